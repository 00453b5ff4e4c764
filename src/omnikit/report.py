"""The management report: one self-contained HTML file of ``kit.analytics``.

``write_report(kit, "report.html")`` (or ``omnikit report --out report.html``) writes
contact volume per channel over time, a Sankey diagram of channel switches, purposes
per channel, the channel performance table and the most common paths. The file works
offline: plotly's JavaScript is inlined once, there is no CDN, font or image to fetch.
Every text from the store is escaped (jinja2 autoescape in the page; plotly's JSON
in the figures).

Needs plotly (in the extra ``omnikit[cli]``); without it the functions raise
``MissingDependencyError``.
"""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape

from omnikit._time import from_micros
from omnikit.analytics import ChannelPerformance, Every
from omnikit.errors import MissingDependencyError, NotFoundError, ValidationError
from omnikit.model.hours import _zone_name
from omnikit.store import aggregates

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["build_report", "contact_span", "write_report"]

DEFAULT_TITLE = "Customer contact report"


def contact_span(kit: Omnikit, *, timezone: str = "UTC") -> tuple[date, date] | None:
    """The first and last day (of ``timezone``) with a contact in the store; ``None``
    when it holds none. Raises ``ValidationError`` for an unknown ``timezone``."""
    zone = ZoneInfo(_zone_name(timezone))
    with kit.store.transaction() as tx:
        ((first, last),) = tx.aggregate("span", aggregates.contact_span(), {})
    if first is None:
        return None
    return (
        from_micros(int(first)).astimezone(zone).date(),
        from_micros(int(last)).astimezone(zone).date(),
    )


def write_report(
    kit: Omnikit,
    path: str | Path,
    start: date | None = None,
    end: date | None = None,
    *,
    title: str = DEFAULT_TITLE,
    timezone: str = "UTC",
) -> Path:
    """Write the report of ``start`` to ``end`` (dates of ``timezone``, both
    included; default: the span of the store's contacts) to ``path`` and return the
    path.

    Raises ``NotFoundError`` when no period is given and the store holds no contacts,
    ``ValidationError`` for a bad period or timezone, ``MissingDependencyError``
    without plotly.
    """
    if start is None or end is None:
        span = contact_span(kit, timezone=timezone)
        if span is None:
            raise NotFoundError(
                f"the store {kit.store.url} holds no contacts to report on "
                "(try: omnikit demo --customers 10000)"
            )
        start = span[0] if start is None else start
        end = span[1] if end is None else end
    target = Path(path)
    html = build_report(kit, start, end, title=title, timezone=timezone)
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as error:
        raise ValidationError(f"cannot write the report to {str(target)!r}: {error}") from None
    return target


def build_report(
    kit: Omnikit,
    start: date,
    end: date,
    *,
    title: str = DEFAULT_TITLE,
    timezone: str = "UTC",
) -> str:
    """The report of ``start`` to ``end`` (dates, both included) as one HTML page;
    days, weeks and months are those of ``timezone`` (an IANA name).

    A period without contacts gives a page that says so. Raises ``ValidationError``
    for a bad period or timezone and ``MissingDependencyError`` without plotly.
    """
    timezone = _zone_name(timezone)
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValidationError(f"{name} {value!r} must be a date")
    go = _plotly()
    every = _every(start, end)
    analytics = kit.analytics
    volume = analytics.contacts(start, end, by="channel", every=every, timezone=timezone)
    purposes = analytics.contacts(
        start, end, by=("channel", "purpose"), every=None, timezone=timezone
    )
    switches = analytics.switches(start, end, timezone=timezone)
    paths = analytics.paths(start, end, top=20, timezone=timezone)
    performance = analytics.channel_performance(start, end, timezone=timezone)

    figures: list[tuple[str, str, str]] = []
    if len(volume):
        figure = go.Figure()
        for channel in sorted({row.channel for row in volume if row.channel}):
            mine = [row for row in volume if row.channel == channel]
            figure.add_trace(
                go.Scatter(
                    x=[row.period.isoformat() for row in mine if row.period],
                    y=[row.contacts for row in mine],
                    name=channel,
                    mode="lines",
                    stackgroup="contacts",
                )
            )
        figure.update_layout(yaxis_title=f"contacts per {every}", hovermode="x unified")
        figures.append(("volume", f"Contact volume per channel, per {every}", _div(figure)))
    if len(switches):
        channels = sorted({r.from_channel for r in switches} | {r.to_channel for r in switches})
        where = {channel: n for n, channel in enumerate(channels)}
        sankey = go.Sankey(
            node={
                "label": [*channels, *channels],
                "pad": 12,
                "thickness": 14,
                "x": [0.01] * len(channels) + [0.99] * len(channels),
                "y": [(n + 0.5) / len(channels) for n in range(len(channels))] * 2,
            },
            link={
                "source": [where[r.from_channel] for r in switches],
                "target": [len(channels) + where[r.to_channel] for r in switches],
                "value": [r.count for r in switches],
            },
            arrangement="snap",
        )
        figure = go.Figure(sankey)
        figure.update_layout(height=max(420, 36 * len(channels)))
        figures.append(
            (
                "switches",
                f"Channel switches: the next contact within 7 days ({switches.total:,} in all; "
                "left: the channel before, right: the channel after)",
                _div(figure),
            )
        )
    if len(purposes):
        figure = go.Figure()
        names = sorted({row.purpose or "(none)" for row in purposes})
        channels = sorted({row.channel for row in purposes if row.channel})
        for purpose in names:
            counts = {
                row.channel: row.contacts
                for row in purposes
                if (row.purpose or "(none)") == purpose
            }
            figure.add_trace(
                go.Bar(x=channels, y=[counts.get(c, 0) for c in channels], name=purpose)
            )
        figure.update_layout(barmode="stack", yaxis_title="contacts")
        figures.append(("purposes", "Purposes per channel", _div(figure)))

    template = _ENVIRONMENT.from_string(_PAGE)
    return template.render(
        title=title,
        start=start,
        end=end,
        timezone=timezone,
        made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        plotly_js=importlib.import_module("plotly.offline").get_plotlyjs(),
        figures=figures,
        performance=[_performance_row(row) for row in performance],
        paths=paths,
        total=sum(row.contacts for row in volume),
    )


def _plotly() -> Any:
    try:
        return importlib.import_module("plotly.graph_objects")
    except ImportError:
        raise MissingDependencyError(
            "the report needs plotly: pip install 'omnikit[cli]' (or plotly)"
        ) from None


def _every(start: date, end: date) -> Every:
    days = (end - start).days + 1
    return "day" if days <= 62 else "week" if days <= 366 else "month"


def _div(figure: Any) -> str:
    html: str = figure.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})
    return html


def _performance_row(row: ChannelPerformance) -> dict[str, str]:
    return {
        "channel": row.channel or "(no channel)",
        "contacts": f"{row.contacts:,}",
        "inbound": f"{row.inbound:,}",
        "outbound": f"{row.outbound:,}",
        "cases": f"{row.cases:,}",
        "first_response": _pair(row.first_response_p50, row.first_response_p90),
        "resolution": _pair(row.resolution_p50, row.resolution_p90),
        "fcr": _percent(row.first_contact_resolution),
        "repeat": _percent(row.repeat_contact_rate),
        "reopen": _percent(row.reopen_rate),
        "sla": _percent(row.sla_attainment),
        "delivered": _percent(row.delivery_rate),
        "failed": _percent(row.failure_rate),
        "cost": "—" if row.cost_per_contact is None else f"{row.cost_per_contact:,.2f}",
    }


def _pair(p50: timedelta | None, p90: timedelta | None) -> str:
    return f"{_duration(p50)} / {_duration(p90)}"


def _duration(value: timedelta | None) -> str:
    """``3 h 12 min``, ``2 d 4 h``, ``45 min``, ``20 s``; ``—`` for none."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


_ENVIRONMENT = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}: {{ start }} to {{ end }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1f2933; }
  h1 { margin-bottom: 0.2rem; }
  .meta { color: #616e7c; margin-top: 0; }
  section { margin: 2.5rem 0; }
  table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
  th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #e4e7eb; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  th { background: #f5f7fa; }
  .empty { color: #616e7c; font-style: italic; }
</style>
<script>{{ plotly_js | safe }}</script>
</head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ start }} to {{ end }} ({{ timezone }}) · {{ "{:,}".format(total) }} contacts ·
made {{ made }} by omnikit</p>
{% if not figures %}
<p class="empty" id="no-contacts">No contacts in this period.</p>
{% endif %}
{% for id, heading, div in figures %}
<section id="{{ id }}">
<h2>{{ heading }}</h2>
{{ div | safe }}
</section>
{% endfor %}
<section id="performance">
<h2>Channel performance</h2>
{% if performance %}
<table>
<thead><tr><th>channel</th><th>contacts</th><th>inbound</th><th>outbound</th><th>cases</th>
<th>first response p50 / p90</th><th>resolution p50 / p90</th><th>first-contact resolution</th>
<th>repeat within 7 d</th><th>reopened</th><th>SLA met</th><th>delivered</th><th>failed</th>
<th>cost per contact</th></tr></thead>
<tbody>
{% for row in performance %}
<tr><td>{{ row.channel }}</td><td>{{ row.contacts }}</td><td>{{ row.inbound }}</td>
<td>{{ row.outbound }}</td><td>{{ row.cases }}</td><td>{{ row.first_response }}</td>
<td>{{ row.resolution }}</td><td>{{ row.fcr }}</td><td>{{ row.repeat }}</td>
<td>{{ row.reopen }}</td><td>{{ row.sla }}</td><td>{{ row.delivered }}</td>
<td>{{ row.failed }}</td><td>{{ row.cost }}</td></tr>
{% endfor %}
</tbody>
</table>
<p class="meta">Case figures count the cases opened in the period, under the channel of
their first contact. Times are business hours where a service level applies.</p>
{% else %}
<p class="empty">No contacts in this period.</p>
{% endif %}
</section>
<section id="paths">
<h2>Most common journeys</h2>
{% if paths %}
<table>
<thead><tr><th>path</th><th>journeys</th><th>customers</th></tr></thead>
<tbody>
{% for path in paths %}
<tr><td>{{ path }}</td><td>{{ "{:,}".format(path.journeys) }}</td>
<td>{{ "{:,}".format(path.customers) }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p class="empty">No journeys across channels in this period.</p>
{% endif %}
</section>
</body>
</html>
"""
