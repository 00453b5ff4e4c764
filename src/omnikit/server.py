"""The webhook receiver: an ASGI app (Starlette) in front of ``kit.receive``.

``create_app(kit)`` serves::

    GET  /healthz               200 "ok" while the store answers, else 503
    GET  /webhooks/{adapter}    subscription challenges (WhatsApp, Messenger, …)
    POST /webhooks/{adapter}    deliveries: verified, parsed, recorded, acknowledged

Answers: the adapter's own response on success; 404 for an adapter that is not
configured; 403 for a bad signature (nothing recorded); 400 for a body that cannot be
read; 413 for a body over ``max_body`` (1 MiB); 503 with ``Retry-After`` when the
store fails, so that the provider delivers again — never a 200 with the contact lost.
Logs name the adapter, the status and the error type; never secrets or contents.

Run it with ``omnikit serve`` (uvicorn) or mount it in any ASGI server. It needs the
extra ``omnikit[server]``.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnikit.adapters.base import InboundRequest
from omnikit.errors import (
    OmnikitError,
    PayloadError,
    SignatureError,
    StoreError,
    UnknownAdapterError,
    ValidationError,
)

try:
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.responses import Response as HttpResponse
    from starlette.routing import Route
except ImportError as error:  # pragma: no cover - exercised without the extra only
    raise ImportError(
        f"omnikit.server needs the 'server' extra: pip install 'omnikit[server]' ({error})"
    ) from error

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_THREADS", "ServeConfig", "create_app", "load_config"]

log = logging.getLogger("omnikit.server")

DEFAULT_MAX_BODY = 1024 * 1024
"""The largest webhook body the receiver accepts (1 MiB); larger ones get 413."""

DEFAULT_THREADS = 4
"""How many webhook requests run ``kit.receive`` at once in one process on PostgreSQL."""

RETRY_AFTER = "5"
"""Seconds a provider is asked to wait before delivering again after a store failure."""


class _TooLarge(Exception):
    pass


def create_app(
    kit: Omnikit,
    *,
    public_url: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    threads: int | None = None,
) -> Starlette:
    """The webhook receiver for ``kit``'s configured adapters.

    ``public_url`` (``"https://hooks.example.com"``) is the address providers post to,
    when it differs from what the app sees behind a proxy: signature schemes that sign
    the URL (Twilio) are checked against ``public_url`` + the request's path and query.
    ``max_body`` bounds the body in bytes. ``threads`` is how many requests run
    ``kit.receive`` (synchronous) at once in worker threads; ``0`` runs it on the event
    loop itself. The default is 0 on SQLite, whose writers take turns anyway: there a
    worker thread only adds contention for the GIL (one uvicorn worker answered 512
    signed Twilio webhooks a second with 4 threads, 979 on the loop), and
    ``DEFAULT_THREADS`` on PostgreSQL, whose round trips overlap.
    """
    if public_url is not None:
        if not isinstance(public_url, str) or not public_url.startswith(("http://", "https://")):
            raise ValidationError(f"public_url {public_url!r} must start with http:// or https://")
        public_url = public_url.rstrip("/")
    if not isinstance(max_body, int) or isinstance(max_body, bool) or max_body < 1:
        raise ValidationError(f"max_body {max_body!r} must be a positive number of bytes")
    if threads is None:
        threads = 0 if kit.store.url.startswith("sqlite") else DEFAULT_THREADS
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise ValidationError(f"threads {threads!r} must be a whole number, 0 or more")
    limiter = anyio.CapacityLimiter(threads) if threads else None

    async def healthz(request: Request) -> HttpResponse:
        try:
            await run_in_threadpool(_ping, kit)
        except Exception as error:
            log.warning("health check failed: %s", type(error).__name__)
            return PlainTextResponse("store unavailable", status_code=503)
        return PlainTextResponse("ok")

    async def webhook(request: Request) -> HttpResponse:
        name = request.path_params["adapter"]
        started = time.perf_counter()
        try:
            if name not in kit.adapters:
                raise UnknownAdapterError(f"no adapter {name!r} is configured")
            body = await _body(request, max_body)
            # Starlette hands over what InboundRequest would check: an upper-case method,
            # lower-case header names, text query parameters, the body as bytes.
            inbound = InboundRequest.trusted(
                method=request.method,
                url=_url(request, public_url),
                headers=_headers(request),
                body=body,
                query=dict(request.query_params),
                received_at=kit.now(),
            )
            if limiter is None:
                result = kit.receive(name, inbound)
            else:
                result = await anyio.to_thread.run_sync(kit.receive, name, inbound, limiter=limiter)
        except _TooLarge:
            return _answer(name, 413, f"body over {max_body} bytes", started)
        except UnknownAdapterError:
            return _answer(name, 404, "unknown adapter", started)
        except SignatureError as error:
            return _answer(name, 403, "signature rejected", started, error)
        except (PayloadError, ValidationError) as error:
            return _answer(name, 400, str(error), started, error)
        except StoreError as error:
            response = _answer(name, 503, "store unavailable, deliver again", started, error)
            response.headers["Retry-After"] = RETRY_AFTER
            return response
        except OmnikitError as error:
            return _answer(name, 500, "not recorded, deliver again", started, error)
        except Exception as error:
            log.exception("%s: unexpected %s", name, type(error).__name__)
            return _answer(name, 500, "not recorded, deliver again", started)
        answer = result.response
        log.info(
            "%s: %d (%d recorded, %d updated, %d ignored) in %.1f ms",
            name,
            answer.status,
            len(result.interactions),
            len(result.updated),
            len(result.ignored),
            (time.perf_counter() - started) * 1000,
        )
        return HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/webhooks/{adapter}", webhook, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.kit = kit
    return app


def _ping(kit: Omnikit) -> None:
    with kit.store.transaction() as tx:
        tx.get_customer("00000000-0000-0000-0000-000000000000")


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise _TooLarge
        return await request.body()  # the server stops reading at the declared length
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _url(request: Request, public_url: str | None) -> str:
    if public_url is None:
        return str(request.url)
    query = request.url.query
    return public_url + request.url.path + (f"?{query}" if query else "")


def _headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _answer(name: str, status: int, text: str, started: float, error: Any = None) -> HttpResponse:
    kind = "" if error is None else f" ({type(error).__name__})"
    log.warning("%s: %d%s in %.1f ms", name, status, kind, (time.perf_counter() - started) * 1000)
    return PlainTextResponse(text, status_code=status)


@dataclass(frozen=True)
class ServeConfig:
    """What ``omnikit serve --config FILE`` reads from a TOML file.

    Example::

        url = "sqlite:///omnikit.db"           # the store (default: OMNIKIT_URL)
        default_region = "NL"
        public_url = "https://hooks.example.com"
        max_body = 1048576
        threads = 4                            # default: 0 on SQLite, 4 on PostgreSQL

        [adapters.twilio]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token_env = "TWILIO_AUTH_TOKEN"   # a key ending in _env names an
                                               # environment variable holding the value

    Each ``[adapters.NAME]`` table is the settings of ``kit.adapters.use(NAME, ...)``.
    """

    url: str | None = None
    default_region: str | None = None
    public_url: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    threads: int | None = None
    adapters: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_config(path: str | Path) -> ServeConfig:
    """Read a ``ServeConfig`` from a TOML file; secrets may come from the environment.

    Raises ``ValidationError`` naming the file and the problem: unreadable TOML, an
    unknown key, an environment variable that is not set.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValidationError(f"config {str(path)!r} cannot be read: {error}") from None
    known = {"url", "default_region", "public_url", "max_body", "threads", "adapters"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ValidationError(f"config {str(path)!r}: unknown key(s) {', '.join(unknown)}")
    adapters = document.get("adapters", {})
    if not isinstance(adapters, dict) or not all(isinstance(v, dict) for v in adapters.values()):
        raise ValidationError(f"config {str(path)!r}: [adapters.NAME] must be tables")
    resolved: dict[str, dict[str, Any]] = {}
    for name, settings in adapters.items():
        resolved[name] = {}
        for key, value in settings.items():
            if key.endswith("_env"):
                if not isinstance(value, str) or value not in os.environ:
                    raise ValidationError(
                        f"config {str(path)!r}: adapters.{name}.{key} names environment "
                        f"variable {value!r}, which is not set"
                    )
                resolved[name][key.removesuffix("_env")] = os.environ[value]
            else:
                resolved[name][key] = value
    max_body = document.get("max_body", DEFAULT_MAX_BODY)
    for key in ("url", "default_region", "public_url"):
        if key in document and not isinstance(document[key], str):
            raise ValidationError(f"config {str(path)!r}: {key} must be a string")
    return ServeConfig(
        url=document.get("url"),
        default_region=document.get("default_region"),
        public_url=document.get("public_url"),
        max_body=max_body,
        threads=document.get("threads"),
        adapters=resolved,
    )
