"""The management report: a self-contained HTML page, the command, and a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnikit import NotFoundError, Omnikit, ValidationError
from omnikit.cli import app
from omnikit.report import build_report, contact_span, write_report
from tests.conftest import make_url

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
JAN_5 = datetime(2026, 1, 5, 9, tzinfo=UTC)
REQUIRE_BROWSER = os.environ.get("OMNIKIT_REQUIRE_BROWSER") == "1"
runner = CliRunner()


def history(kit: Omnikit) -> None:
    """Two customers moving across channels, with purposes and a resolved case."""
    jan = kit.customers.identify(email="jan@example.nl").id
    eva = kit.customers.identify(email="eva@example.nl").id
    for who, steps in (
        (jan, [("webshop", "order"), ("phone", "delivery"), ("email", "delivery")]),
        (eva, [("whatsapp", "return"), ("whatsapp", "return"), ("store", "return")]),
    ):
        for n, (channel, purpose) in enumerate(steps):
            kit.record(
                customer=who,
                channel=channel,
                direction="inbound",
                kind="message",
                occurred_at=JAN_5 + timedelta(days=n, hours=n),
                purpose=purpose,
            )


def test_the_report_is_one_self_contained_page(kit: Omnikit) -> None:
    history(kit)
    html = build_report(kit, date(2026, 1, 1), date(2026, 1, 31), title="Q1 <b>review</b>")
    assert html.startswith("<!DOCTYPE html>")
    # nothing to fetch: no external scripts, styles, images or fonts in the page's
    # markup (plotly's own code merely mentions plotly.com for its logo link)
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.DOTALL)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "<script src" not in html and "<link" not in markup and "<img" not in markup
    assert "@import" not in markup and "url(" not in markup
    assert html.count("<script>") >= 4  # plotly once, then one per figure
    assert len(re.findall(r"plotly\.js v\d", html)) == 1  # the library is inlined once
    for section in ("volume", "switches", "purposes", "performance", "paths"):
        assert f'<section id="{section}">' in html
    assert "Q1 &lt;b&gt;review&lt;/b&gt;" in html and "<b>review</b>" not in html
    assert "webshop → phone → email" in html  # the top path
    assert "No contacts in this period." not in html


def test_an_empty_period_says_so(kit: Omnikit) -> None:
    history(kit)
    html = build_report(kit, date(2025, 1, 1), date(2025, 1, 31))
    assert 'id="no-contacts"' in html
    assert '<section id="switches">' not in html


def test_write_report_defaults_to_the_span_of_the_contacts(kit: Omnikit, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="holds no contacts"):
        write_report(kit, tmp_path / "r.html")
    assert contact_span(kit) is None
    history(kit)
    assert contact_span(kit) == (date(2026, 1, 5), date(2026, 1, 7))
    path = write_report(kit, tmp_path / "r.html")
    assert "2026-01-05 to 2026-01-07" in path.read_text(encoding="utf-8")
    with pytest.raises(ValidationError, match="is after end"):
        build_report(kit, date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValidationError, match="must be a date"):
        build_report(kit, "2026-01-01", date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cannot write the report"):
        write_report(kit, tmp_path / "missing" / "dir" / "r.html")


def test_the_report_counts_the_days_of_its_timezone(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    for day in (5, 6):  # 23:30 UTC: the next day in Amsterdam, the same day in New York
        kit.record(
            customer=jan,
            channel="sms",
            direction="inbound",
            kind="message",
            occurred_at=datetime(2026, 1, day, 23, 30, tzinfo=UTC),
        )
    assert contact_span(kit) == (date(2026, 1, 5), date(2026, 1, 6))
    assert contact_span(kit, timezone="Europe/Amsterdam") == (date(2026, 1, 6), date(2026, 1, 7))
    assert contact_span(kit, timezone="America/New_York") == (date(2026, 1, 5), date(2026, 1, 6))
    html = build_report(kit, date(2026, 1, 7), date(2026, 1, 7), timezone="Europe/Amsterdam")
    assert "2026-01-07 to 2026-01-07 (Europe/Amsterdam)" in html
    assert 'id="no-contacts"' not in html  # the contact of 6 January 23:30 UTC
    assert 'id="no-contacts"' in build_report(kit, date(2026, 1, 7), date(2026, 1, 7))
    with pytest.raises(ValidationError, match="timezone 'Amsterdam'"):
        build_report(kit, date(2026, 1, 7), date(2026, 1, 7), timezone="Amsterdam")


def test_the_report_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    missing = runner.invoke(app, ["report", "--url", url])
    assert missing.exit_code == 3 and "does not exist" in missing.output
    with Omnikit(url) as kit:
        history(kit)
    made = runner.invoke(
        app, ["report", "--url", url, "--from", "2026-01-01", "--to", "2026-01-31"]
    )
    assert made.exit_code == 0, made.output
    assert "report written to report.html" in made.output
    assert "webshop → phone → email" in (tmp_path / "report.html").read_text(encoding="utf-8")
    bad_date = runner.invoke(app, ["report", "--url", url, "--from", "1 January"])
    assert bad_date.exit_code == 2
    backwards = runner.invoke(
        app, ["report", "--url", url, "--from", "2026-02-01", "--to", "2026-01-01"]
    )
    assert backwards.exit_code == 2 and "is after end" in backwards.output
    assert "Traceback" not in backwards.output
    zoned = runner.invoke(
        app, ["report", "--url", url, "--out", "nl.html", "--timezone", "Europe/Amsterdam"]
    )
    assert zoned.exit_code == 0, zoned.output
    assert "(Europe/Amsterdam)" in (tmp_path / "nl.html").read_text(encoding="utf-8")
    unknown = runner.invoke(app, ["report", "--url", url, "--timezone", "Mars/Olympus"])
    assert unknown.exit_code == 2 and "timezone 'Mars/Olympus'" in unknown.output
    helped = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "120"})
    assert "Example: omnikit report" in helped.output


def test_the_report_command_on_postgres(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store_url = make_url("postgresql", tmp_path, request.getfixturevalue("postgres_server"))
    with Omnikit(store_url) as kit:
        history(kit)
    out = tmp_path / "pg.html"
    made = runner.invoke(app, ["report", "--url", store_url, "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert "webshop → phone → email" in out.read_text(encoding="utf-8")


# in a real browser ---------------------------------------------------------------------------

HARNESS = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push(Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
})();
window.addEventListener("load", function () {
  setTimeout(function () {
    var out = document.createElement("pre");
    out.id = "omnikit-test-errors";
    out.textContent = JSON.stringify(window.__errors);
    document.body.appendChild(out);
  }, 0);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if REQUIRE_BROWSER:
            pytest.fail("OMNIKIT_REQUIRE_BROWSER=1 but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    return found


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1400,3200",
            "--virtual-time-budget=15000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium()
    from omnikit.demo_data import generate

    with Omnikit(f"sqlite:///{tmp_path / 'demo.db'}", default_region="NL") as kit:
        generate(kit, customers=300)
        start, end = date(2026, 1, 1), date(2026, 3, 31)
        html = build_report(kit, start, end)
        switches = kit.analytics.switches(start, end)
    channels = {r.from_channel for r in switches} | {r.to_channel for r in switches}
    page = tmp_path / "report.html"
    page.write_text(html.replace("<head>", "<head>" + HARNESS, 1), encoding="utf-8")

    shown = run_chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = shown.stdout
    errors = re.search(r'id="omnikit-test-errors">([^<]*)<', dom)
    assert errors is not None, "the page's scripts did not run to the end"
    assert json.loads(errors.group(1).replace("&quot;", '"')) == []  # no console errors
    # the Sankey has a node per channel on each side, and a link per switch
    assert dom.count('class="sankey-node"') == 2 * len(channels)
    assert dom.count('class="sankey-link"') == len(switches)
    assert dom.count('class="main-svg"') >= 3 * 2  # three figures, each two layers

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    shot = run_chromium(binary, tmp_path / "profile", f"--screenshot={screenshot}", page.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one
    print(f"screenshot: {screenshot}")
