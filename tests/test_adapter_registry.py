"""Where adapters come from: built-in names, packages' entry points, and ``kit.adapters``.

Packages are real distributions written to a temporary directory (a ``*.dist-info``
with ``entry_points.txt`` next to the module); ``entry_points`` is pointed at that
directory only, so the adapters installed in the test environment play no part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, distributions
from pathlib import Path

import pytest

from omnikit import (
    ConflictError,
    Omnikit,
    UnknownAdapterError,
    UnknownChannelError,
    ValidationError,
)
from omnikit.adapters import BUILTIN_ADAPTERS, Adapter, adapter_class, adapter_names, registry
from omnikit.adapters.webhook import WebhookAdapter
from omnikit.model import Channel, IdentityKind

ROOT = Path(__file__).resolve().parent.parent

ADAPTER_MODULE = '''
"""A third-party adapter for the tests: {name!r} on channel {channel!r}."""
from omnikit.adapters import BaseAdapter, Capabilities


class {cls}(BaseAdapter):
    name = {name!r}
    channel = {channel!r}
    capabilities = Capabilities(text_limit=160)

    def __init__(self, *, api_key: str, sender: str = "Shop") -> None:
        self.api_key = api_key
        self.sender = sender

    def verify(self, request):
        pass

    def parse(self, request):
        return []

    def render(self, message):
        return []
'''

Install = Callable[..., None]


def write_package(
    root: Path, dist: str, entries: dict[str, str], modules: dict[str, str] | None = None
) -> None:
    """Write distribution ``dist`` (its metadata and modules) into ``root``."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[omnikit.adapters]\n{lines}")
    for module, source in (modules or {}).items():
        (root / f"{module}.py").write_text(source)


def adapter_source(cls: str, name: str, channel: str = "sms") -> str:
    return ADAPTER_MODULE.format(cls=cls, name=name, channel=channel)


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """``install(dist, entries, modules)``: make a package visible to the registry."""
    roots: list[Path] = []

    def only_ours(*, group: str) -> list[EntryPoint]:
        found = distributions(path=[str(root) for root in roots])
        return [point for dist in found for point in dist.entry_points if point.group == group]

    def install(dist: str, entries: dict[str, str], modules: dict[str, str] | None = None) -> None:
        root = tmp_path / f"site-{len(roots)}"
        write_package(root, dist, entries, modules)
        roots.append(root)
        monkeypatch.syspath_prepend(str(root))
        registry.reset_discovery()

    monkeypatch.delenv("OMNIKIT_NO_PLUGINS", raising=False)
    monkeypatch.setattr(registry, "entry_points", only_ours)
    registry.reset_discovery()
    before = set(sys.modules)
    yield install
    for module in set(sys.modules) - before:
        if module.startswith("fake_"):
            del sys.modules[module]
    registry.reset_discovery()


@pytest.fixture
def kit() -> Iterator[Omnikit]:
    """An in-memory kit: the registry does not depend on the store."""
    with Omnikit("sqlite:///:memory:", default_region="NL") as kit:
        yield kit


# discovery -------------------------------------------------------------------------------


def test_a_package_is_imported_only_when_used(install: Install, kit: Omnikit) -> None:
    install(
        "omnikit-fakesms",
        {"fakesms": "fake_sms:FakeSmsAdapter"},
        {"fake_sms": adapter_source("FakeSmsAdapter", "fakesms")},
    )
    assert "fakesms" in kit.adapters.available()
    assert set(BUILTIN_ADAPTERS) <= set(kit.adapters.available())
    assert "fake_sms" not in sys.modules, "listing adapters imported the package"
    adapter = kit.adapters.use("fakesms", api_key="k-123")
    assert "fake_sms" in sys.modules
    assert type(adapter).__name__ == "FakeSmsAdapter" and adapter.api_key == "k-123"  # type: ignore[attr-defined]
    assert kit.adapters.get("fakesms") is adapter


def test_importing_omnikit_imports_no_adapter(tmp_path: Path) -> None:
    # A fresh interpreter with a package installed the ordinary way: entry points are
    # read from its dist-info on sys.path, and nothing is imported before use.
    write_package(
        tmp_path,
        "omnikit-fakesms",
        {"fakesms": "fake_sms:FakeSmsAdapter"},
        {"fake_sms": adapter_source("FakeSmsAdapter", "fakesms")},
    )
    script = textwrap.dedent(
        """
        import json, sys
        from omnikit import Omnikit

        def loaded():
            return sorted(m for m in sys.modules
                          if m == "fake_sms" or m.startswith("omnikit.adapters."))

        kit = Omnikit("sqlite:///:memory:")
        names = kit.adapters.available()
        before = loaded()
        kit.adapters.use("fakesms", api_key="k")
        after_plugin = loaded()
        kit.adapters.use("webhook", secret="whsec-0123456789abcdef")
        print(json.dumps([names, before, after_plugin, loaded()]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "OMNIKIT_NO_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT / "src")])
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    names, before, after_plugin, after_builtin = json.loads(done.stdout)
    assert "fakesms" in names and "webhook" in names
    assert before == ["omnikit.adapters.base", "omnikit.adapters.registry"]
    assert after_plugin == ["fake_sms", *before]
    assert after_builtin == [*after_plugin, "omnikit.adapters.webhook"]


def test_a_package_that_fails_to_import(install: Install, kit: Omnikit) -> None:
    install(
        "omnikit-broken",
        {"broken": "fake_broken:BrokenAdapter"},
        {"fake_broken": "import fake_module_that_is_not_installed\n"},
    )
    assert "broken" in kit.adapters.available()  # listed: nothing was imported yet
    with (
        pytest.warns(RuntimeWarning, match="'omnikit-broken'.*fake_module_that_is_not_installed"),
        pytest.raises(UnknownAdapterError, match="'broken' from package 'omnikit-broken'"),
    ):
        kit.adapters.use("broken")
    # the other adapters are unaffected
    kit.adapters.use("webhook", secret="whsec-0123456789abcdef")


def test_a_package_whose_entry_point_names_nothing(install: Install, kit: Omnikit) -> None:
    install(
        "omnikit-typo",
        {"typo": "fake_typo:Adapterr"},
        {"fake_typo": adapter_source("Adapter", "typo")},
    )
    with (
        pytest.warns(RuntimeWarning, match="'omnikit-typo'"),
        pytest.raises(UnknownAdapterError, match=r"omnikit-typo.*Adapterr"),
    ):
        kit.adapters.use("typo", api_key="k")


def test_two_packages_claiming_one_name(install: Install, kit: Omnikit) -> None:
    install("omnikit-line", {"line": "fake_line_a:LineAdapter"})
    install("line-for-omnikit", {"line": "fake_line_b:LineAdapter"})
    for attempt in (
        lambda: kit.adapters.use("line", channel_secret="s"),
        kit.adapters.available,
    ):
        with pytest.raises(ConflictError) as caught:
            attempt()
        assert "'line'" in str(caught.value)
        assert "omnikit-line" in str(caught.value) and "line-for-omnikit" in str(caught.value)
    # the clash is about 'line' only: other names work and other errors stay themselves
    kit.adapters.use("webhook", secret="whsec-0123456789abcdef")
    with pytest.raises(UnknownAdapterError, match="'nope'"):
        kit.adapters.use("nope")
    with pytest.raises(UnknownAdapterError, match="'telegram' is configured"):
        kit.adapters.get("telegram")


def test_a_package_claiming_a_builtin_name(install: Install, kit: Omnikit) -> None:
    install("omnikit-better-webhook", {"webhook": "fake_webhook:WebhookAdapter"})
    with pytest.raises(ConflictError) as caught:
        kit.adapters.use("webhook", secret="whsec-0123456789abcdef")
    assert "'webhook'" in str(caught.value)
    assert "omnikit, omnikit-better-webhook" in str(caught.value)
    assert "fake_webhook" not in sys.modules


def test_one_package_seen_twice_is_not_a_clash(install: Install, kit: Omnikit) -> None:
    # the same distribution on two path entries (an editable and a regular install)
    source = {"fake_twice": adapter_source("TwiceAdapter", "twice")}
    install("omnikit-twice", {"twice": "fake_twice:TwiceAdapter"}, source)
    install("omnikit-twice", {"twice": "fake_twice:TwiceAdapter"}, source)
    assert kit.adapters.available().count("twice") == 1
    assert kit.adapters.use("twice", api_key="k").name == "twice"


@pytest.mark.parametrize("value", ["1", "true", "yes", "TRUE", " Yes "])
def test_no_plugins_turns_discovery_off(
    install: Install, kit: Omnikit, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    install(
        "omnikit-fakesms",
        {"fakesms": "fake_sms:FakeSmsAdapter"},
        {"fake_sms": adapter_source("FakeSmsAdapter", "fakesms")},
    )
    monkeypatch.setenv("OMNIKIT_NO_PLUGINS", value)
    registry.reset_discovery()
    assert kit.adapters.available() == sorted(BUILTIN_ADAPTERS)
    with pytest.raises(UnknownAdapterError, match="no adapter named 'fakesms'"):
        kit.adapters.use("fakesms", api_key="k")
    monkeypatch.setenv("OMNIKIT_NO_PLUGINS", "0")
    registry.reset_discovery()
    assert "fakesms" in adapter_names()


def test_discovery_is_read_once_until_reset(install: Install, kit: Omnikit, tmp_path: Path) -> None:
    install("omnikit-early", {"early": "fake_early:EarlyAdapter"})
    assert "early" in kit.adapters.available()
    # a package installed while the process runs is not seen...
    write_package(tmp_path / "site-0", "omnikit-late", {"late": "fake_late:LateAdapter"})
    assert "late" not in kit.adapters.available()
    registry.reset_discovery()  # ...until the entry points are read again
    assert "late" in kit.adapters.available()


# kit.adapters.use ------------------------------------------------------------------------


SECRET = "whsec-0123456789abcdef"


def test_use_takes_a_name_a_class_or_an_instance(kit: Omnikit) -> None:
    by_name = kit.adapters.use("webhook", secret=SECRET)
    assert type(by_name) is WebhookAdapter and adapter_class("webhook") is WebhookAdapter
    by_class = kit.adapters.use(WebhookAdapter, secret=SECRET, name="shop", channel="webshop")
    assert (by_class.name, by_class.channel) == ("shop", "webshop")
    instance = WebhookAdapter(secret=SECRET, name="app", channel="app")
    assert kit.adapters.use(instance) is instance
    assert [a.name for a in kit.adapters] == ["webhook", "shop", "app"]
    assert len(kit.adapters) == 3 and "shop" in kit.adapters and "line" not in kit.adapters
    # configuring a name again replaces it
    again = kit.adapters.use("webhook", secret=SECRET + "-rotated")
    assert kit.adapters.get("webhook") is again and len(kit.adapters) == 3
    with pytest.raises(ValidationError, match=r"settings \['secret'\] cannot be given"):
        kit.adapters.use(instance, secret=SECRET)  # type: ignore[call-arg]


def test_settings_the_adapter_does_not_take(kit: Omnikit) -> None:
    with pytest.raises(ValidationError, match=r"'webhook' does not take these settings.*secrett"):
        kit.adapters.use("webhook", secrett=SECRET)
    with pytest.raises(ValidationError, match="'WebhookAdapter' does not take these settings"):
        kit.adapters.use(WebhookAdapter)
    # the adapter's own checks are ValidationErrors too
    with pytest.raises(ValidationError, match="at least 16"):
        kit.adapters.use("webhook", secret="short")
    assert len(kit.adapters) == 0


class NotAnAdapter:
    """Has a name and a channel, and nothing else of the protocol."""

    name = "half"
    channel = "sms"

    def parse(self, request: object) -> list[object]:
        return []


def test_an_object_lacking_the_protocol(kit: Omnikit) -> None:
    for thing in (NotAnAdapter(), NotAnAdapter, 42, None):
        with pytest.raises(ValidationError, match="is not an adapter"):
            kit.adapters.use(thing)  # type: ignore[arg-type]
    assert not isinstance(NotAnAdapter(), Adapter)
    assert len(kit.adapters) == 0


def test_an_adapter_on_an_unregistered_channel(kit: Omnikit) -> None:
    with pytest.raises(UnknownChannelError, match="unknown channel 'kiosk'"):
        kit.adapters.use("webhook", secret=SECRET, channel="kiosk")
    assert "webhook" not in kit.adapters
    kit.channels.register(
        Channel(
            id="kiosk",
            name="Kiosk",
            identity_kind=IdentityKind.EXTERNAL,
            realtime=True,
            outbound=False,
        )
    )
    assert kit.adapters.use("webhook", secret=SECRET, channel="kiosk").channel == "kiosk"


def test_an_unknown_name(kit: Omnikit) -> None:
    with pytest.raises(UnknownAdapterError) as caught:
        kit.adapters.use("whatsap", token="t")
    assert "no adapter named 'whatsap'" in str(caught.value)
    assert "whatsapp" in str(caught.value) and "telegram" in str(caught.value)


def test_get_of_an_adapter_not_configured(kit: Omnikit) -> None:
    with pytest.raises(UnknownAdapterError) as caught:
        kit.adapters.get("telegram")
    assert "no adapter 'telegram' is configured" in str(caught.value)
    assert "kit.adapters.use('telegram', ...)" in str(caught.value)
    with pytest.raises(UnknownAdapterError, match="configured: none"):
        kit.adapters.get("line")
    kit.adapters.use("webhook", secret=SECRET)
    with pytest.raises(UnknownAdapterError, match="configured: webhook"):
        kit.adapters.get("line")
    with pytest.raises(UnknownAdapterError, match="no adapter 'line' is configured"):
        kit.receive("line", None)  # type: ignore[arg-type]
