"""The ``omnikit`` command (typer + rich, in the extra ``omnikit[cli]``).

``omnikit demo`` plays the web shop → phone → e-mail → store story on an SQLite file
and prints the customer card and the journey.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated

try:
    import typer
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
except ImportError as error:  # pragma: no cover - exercised without the extra only
    _MISSING: ImportError | None = error
else:
    _MISSING = None

from omnikit.kit import Omnikit
from omnikit.model import CustomerCard, Journey

__all__ = ["app", "main", "render_card", "render_journey"]


def render_card(console: Console, card: CustomerCard) -> None:
    """Print a customer card: who, how to reach them, open cases, channels, recent."""
    customer = card.customer
    lines = [f"[bold]{customer.name or '(no name)'}[/]  [dim]{customer.id}[/]"]
    if customer.language:
        lines.append(f"language: {customer.language}")
    for identity in card.identities:
        scope = f" ({identity.scope})" if identity.scope else ""
        flag = "  [red]undeliverable[/]" if identity.undeliverable else ""
        lines.append(f"{identity.kind.value}{scope}: {identity.value}{flag}")
    console.print(Panel("\n".join(lines), title="Customer card", expand=False))

    cases = Table(title="Open cases", show_edge=False)
    for column in ("subject", "status", "priority", "assignee", "opened"):
        cases.add_column(column)
    for case in card.open_cases:
        cases.add_row(
            case.subject,
            case.status.value,
            case.priority.value,
            case.assignee or "-",
            f"{case.created_at:%Y-%m-%d %H:%M}",
        )
    if not card.open_cases:
        cases.add_row("(none)", "", "", "", "")
    console.print(cases)

    channels = Table(title="Channels", show_edge=False)
    for column in ("channel", "contacts", "last contact"):
        channels.add_column(column)
    for summary in card.channels:
        channels.add_row(
            summary.channel, str(summary.count), f"{summary.last_contact:%Y-%m-%d %H:%M}"
        )
    console.print(channels)

    recent = Table(title="Recent contacts (newest first)", show_edge=False)
    for column in ("when", "channel", "direction", "kind", "text"):
        recent.add_column(column)
    for interaction in card.recent:
        recent.add_row(
            f"{interaction.occurred_at:%Y-%m-%d %H:%M}",
            interaction.channel,
            interaction.direction.value,
            interaction.kind,
            interaction.subject or interaction.text or "",
        )
    console.print(recent)


def render_journey(console: Console, journey: Journey) -> None:
    """Print the journey as a channel path and its steps."""
    console.print(Panel(" → ".join(journey.channels), title="Journey", expand=False))
    for step in journey.steps:
        console.print(
            f"  {step.occurred_at:%Y-%m-%d %H:%M}  {step.channel:<8} "
            f"{step.direction.value:<8} {step.kind}"
        )


if _MISSING is None:
    app = typer.Typer(
        help="omnikit: one customer, one timeline, one case, on every channel.",
        no_args_is_help=True,
        add_completion=False,
    )

    @app.callback()
    def _root() -> None:
        """omnikit: one customer, one timeline, one case, on every channel."""

    @app.command()
    def demo(
        db: Annotated[
            Path | None,
            typer.Option(help="SQLite file to create (must not exist); default: a new temp file."),
        ] = None,
    ) -> None:
        """Play the web shop → phone → e-mail → store story and print the card and journey.

        Example: omnikit demo --db demo.db
        """
        from omnikit.demo import SteppedClock, play_scenario

        if db is None:
            db = Path(tempfile.mkdtemp(prefix="omnikit-demo-")) / "omnikit-demo.db"
        elif db.exists():
            typer.echo(f"{db} already exists; give a new file name for the demo", err=True)
            raise typer.Exit(code=2)
        console = Console()
        clock = SteppedClock()
        with Omnikit(f"sqlite:///{db}", default_region="NL", clock=clock) as kit:
            result = play_scenario(kit, clock=clock)
            console.print(f"[dim]demo store: {db}[/]\n")
            console.rule("When Jan called: caller ID 020 123 4567 found him")
            render_card(console, result.card_at_call)
            console.print()
            console.rule("After the pickup in the store")
            render_card(console, kit.customer_card(result.customer.id))
            console.print()
            render_journey(console, kit.journey(result.customer.id))
            history = kit.cases.history(result.case.id)
            console.print(
                f"\ncase [bold]{result.case.subject}[/]: {result.case.status.value}, "
                f"{len(history)} events in its audit trail"
            )


def main() -> None:
    """Entry point of the ``omnikit`` console script."""
    if _MISSING is not None:  # pragma: no cover - exercised without the extra only
        print(
            f"the omnikit command needs the 'cli' extra: pip install 'omnikit[cli]' ({_MISSING})",
            file=sys.stderr,
        )
        raise SystemExit(2)
    app()
