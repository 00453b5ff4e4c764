"""Where adapters come from: the built-in ones, and packages in group ``omnikit.adapters``.

A package publishes an adapter with an entry point whose name is the adapter's name::

    [project.entry-points."omnikit.adapters"]
    line = "omnikit_line:LineAdapter"

Nothing is imported until an adapter is used. A package that fails to import gives a
warning naming it; two packages (or a package and omnikit) claiming one name is a
``ConflictError`` naming both. ``OMNIKIT_NO_PLUGINS=1`` (or ``true``, ``yes``, in any
case) turns package loading off; it is read when entry points are first read.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from omnikit.errors import ConflictError, UnknownAdapterError

__all__ = [
    "BUILTIN_ADAPTERS",
    "ENTRY_POINT_GROUP",
    "adapter_class",
    "adapter_names",
    "reset_discovery",
]

ENTRY_POINT_GROUP = "omnikit.adapters"

BUILTIN_ADAPTERS: dict[str, str] = {
    "email": "omnikit.adapters.email:EmailAdapter",
    "instagram": "omnikit.adapters.meta:InstagramAdapter",
    "mailgun": "omnikit.adapters.email:MailgunAdapter",
    "messenger": "omnikit.adapters.meta:MessengerAdapter",
    "telegram": "omnikit.adapters.telegram:TelegramAdapter",
    "twilio": "omnikit.adapters.twilio:TwilioAdapter",
    "twilio_voice": "omnikit.adapters.twilio:TwilioVoiceAdapter",
    "webhook": "omnikit.adapters.webhook:WebhookAdapter",
    "whatsapp": "omnikit.adapters.meta:WhatsAppAdapter",
}
"""The adapters omnikit ships, by name: ``"module:Class"``."""

_lock = threading.Lock()
_plugins: dict[str, list[EntryPoint]] | None = None


def _discover() -> dict[str, list[EntryPoint]]:
    """The installed packages' entry points by adapter name (read once per process)."""
    global _plugins
    with _lock:
        if _plugins is None:
            found: dict[str, list[EntryPoint]] = {}
            off = os.environ.get("OMNIKIT_NO_PLUGINS", "").strip().lower()
            if off not in ("1", "true", "yes"):
                for point in entry_points(group=ENTRY_POINT_GROUP):
                    claims = found.setdefault(point.name, [])
                    if all(_package(p) != _package(point) for p in claims):
                        claims.append(point)
            _plugins = found
        return _plugins


def reset_discovery() -> None:
    """Forget the entry points read so far (after installing a package at run time)."""
    global _plugins
    with _lock:
        _plugins = None


def _package(point: EntryPoint) -> str:
    dist = point.dist
    return dist.name if dist is not None else point.value.split(":")[0].split(".")[0]


def _claim(name: str) -> EntryPoint | None:
    """The one package's entry point for ``name``; ``ConflictError`` when claimed twice."""
    claims = _discover().get(name, [])
    owners = [_package(point) for point in claims]
    if name in BUILTIN_ADAPTERS and claims:
        owners.insert(0, "omnikit")
    if len(owners) > 1:
        raise ConflictError(
            f"adapter name {name!r} is claimed by more than one package: {', '.join(owners)}; "
            "uninstall one of them"
        )
    return claims[0] if claims else None


def adapter_names(*, check: bool = True) -> list[str]:
    """Every adapter name available: built in or installed, sorted.

    Raises ``ConflictError`` when a name is claimed twice, unless ``check`` is False
    (error messages list the names without tripping over a clash elsewhere).
    """
    names = sorted(set(BUILTIN_ADAPTERS) | set(_discover()))
    if check:
        for name in names:
            _claim(name)
    return names


def adapter_class(name: str) -> Any:
    """The class (or factory) registered as ``name``, imported now.

    Raises ``UnknownAdapterError`` for a name nobody provides or a package that fails to
    import (also warned about), ``ConflictError`` for a name claimed twice.
    """
    point = _claim(name)
    if point is None:
        target = BUILTIN_ADAPTERS.get(name)
        if target is None:
            raise UnknownAdapterError(
                f"no adapter named {name!r}; available: {', '.join(adapter_names(check=False))}"
            )
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)
    try:
        return point.load()
    except Exception as error:
        package = _package(point)
        warnings.warn(
            f"omnikit adapter package {package!r} ({point.value}) failed to import: "
            f"{type(error).__name__}: {error}",
            RuntimeWarning,
            stacklevel=2,
        )
        raise UnknownAdapterError(
            f"adapter {name!r} from package {package!r} could not be imported "
            f"({type(error).__name__}: {error})"
        ) from None
