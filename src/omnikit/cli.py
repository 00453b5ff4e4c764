"""The ``omnikit`` command (typer + rich, in the extra ``omnikit[cli]``).

``omnikit demo`` plays the web shop → phone → e-mail → store story on an SQLite file
and prints the customer card and the journey (``omnikit demo --customers N`` fills a
store with synthetic history instead, :mod:`omnikit.demo_data`); ``omnikit serve`` runs the webhook
receiver (``omnikit.server``) with uvicorn.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from omnikit.server import ServeConfig

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
        customers: Annotated[
            int | None,
            typer.Option(
                help="Generate this many customers with their history instead of the story."
            ),
        ] = None,
        url: Annotated[
            str | None,
            typer.Option(
                help="Store to fill with --customers (default: OMNIKIT_URL, ./omnikit.db)."
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="The same seed gives the same history.")] = 42,
        start: Annotated[
            datetime | None,
            typer.Option("--from", formats=["%Y-%m-%d"], help="First day of the history."),
        ] = None,
        end: Annotated[
            datetime | None,
            typer.Option("--to", formats=["%Y-%m-%d"], help="Last day of the history."),
        ] = None,
    ) -> None:
        """Play the web shop → phone → e-mail → store story and print the card and
        journey; with --customers, fill a store with synthetic history for the report.

        Example: omnikit demo --customers 10000 && omnikit report --out report.html

        Example: omnikit demo --db demo.db
        """
        from omnikit.demo import SteppedClock, play_scenario

        if customers is not None:
            if db is not None:
                typer.echo("omnikit demo: --customers fills --url, not --db", err=True)
                raise typer.Exit(code=2)
            _generate(customers, url, seed, start, end)
            return
        if url is not None or start is not None or end is not None:
            typer.echo("omnikit demo: --url, --from and --to go with --customers", err=True)
            raise typer.Exit(code=2)
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

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        config: Annotated[
            Path | None,
            typer.Option(help="TOML file: store URL, public URL, [adapters.NAME] settings."),
        ] = None,
        kit: Annotated[
            str | None,
            typer.Option(help="'module:attribute' of a configured Omnikit (or a factory)."),
        ] = None,
        url: Annotated[str | None, typer.Option(help="Store URL (default: OMNIKIT_URL).")] = None,
        public_url: Annotated[
            str | None, typer.Option(help="The URL providers post to, if a proxy is in front.")
        ] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ) -> None:
        """Run the webhook receiver (uvicorn, one worker): POST /webhooks/{adapter}.

        Example: omnikit serve --host 127.0.0.1 --port 8000 --config omnikit.toml
        """
        import uvicorn

        from omnikit.errors import OmnikitError
        from omnikit.server import create_app

        try:
            settings, the_kit = _configured(config, kit, url)
            application = create_app(
                the_kit,
                public_url=public_url or settings.public_url,
                max_body=settings.max_body,
                threads=settings.threads,
            )
        except OmnikitError as error:
            typer.echo(f"omnikit serve: {error}", err=True)
            raise typer.Exit(code=2) from None
        names = ", ".join(adapter.name for adapter in the_kit.adapters) or "none"
        typer.echo(f"omnikit: adapters {names}; store {the_kit.store.url}", err=True)
        try:
            uvicorn.run(application, host=host, port=port, log_level=log_level, workers=1)
        finally:
            the_kit.close()

    @app.command()
    def worker(
        config: Annotated[
            Path | None,
            typer.Option(help="TOML file: store URL, [adapters.NAME] settings (as for serve)."),
        ] = None,
        kit: Annotated[
            str | None,
            typer.Option(help="'module:attribute' of a configured Omnikit (or a factory)."),
        ] = None,
        url: Annotated[str | None, typer.Option(help="Store URL (default: OMNIKIT_URL).")] = None,
        batch: Annotated[int, typer.Option(help="Items claimed per round.")] = 100,
        idle: Annotated[float, typer.Option(help="Seconds to sleep when nothing is due.")] = 1.0,
        once: Annotated[bool, typer.Option(help="One round, then exit.")] = False,
    ) -> None:
        """Send what the outbox holds: messages through their adapters, events to
        webhook subscribers; retry, dead-letter, fall back. Stops on Ctrl-C or SIGTERM.

        Example: omnikit worker --config omnikit.toml
        """
        import signal
        import threading

        from omnikit.errors import OmnikitError

        try:
            _, the_kit = _configured(config, kit, url)
        except OmnikitError as error:
            typer.echo(f"omnikit worker: {error}", err=True)
            raise typer.Exit(code=2) from None
        names = ", ".join(adapter.name for adapter in the_kit.adapters) or "none"
        typer.echo(f"omnikit worker: adapters {names}; store {the_kit.store.url}", err=True)
        stop = threading.Event()
        try:
            if once:
                result = the_kit.outbox.run_once(limit=batch)
                typer.echo(
                    f"claimed {result.claimed}, sent {result.sent}, retried {result.retried}, "
                    f"dead {result.dead}, fell back {result.fell_back}"
                )
                return
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            the_kit.outbox.run(stop=stop, idle=idle, limit=batch)
        except OmnikitError as error:
            typer.echo(f"omnikit worker: {error}", err=True)
            raise typer.Exit(code=1) from None
        finally:
            the_kit.close()


def _generate(
    customers: int, url: str | None, seed: int, start: datetime | None, end: datetime | None
) -> None:
    """``omnikit demo --customers N``: fill the store with a progress bar, then print
    what was made; a store that already holds customers is left as it is."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from omnikit import demo_data
    from omnikit.errors import OmnikitError, ValidationError

    period = {
        name: value.date() for name, value in (("start", start), ("end", end)) if value is not None
    }
    console = Console()
    try:
        with Omnikit(url, default_region="NL") as kit:
            with kit.store.transaction() as tx:
                full = tx.has_customers()
            if full:
                console.print(
                    f"omnikit demo: {kit.store.url} already holds customers; nothing generated",
                    highlight=False,
                    soft_wrap=True,
                )
                return
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("customers", total=customers)
                data = demo_data.generate(
                    kit,
                    customers=customers,
                    seed=seed,
                    progress=lambda done: progress.update(task, completed=done),
                    **period,
                )
            where = kit.store.url
    except ValidationError as error:
        typer.echo(f"omnikit demo: {error}", err=True)
        raise typer.Exit(code=2) from None
    except OmnikitError as error:
        typer.echo(f"omnikit demo: {error}", err=True)
        raise typer.Exit(code=1) from None
    table = Table(title="Demo data", show_edge=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, count in (
        ("customers", data.customers),
        ("identities", data.identities),
        ("interactions", data.interactions),
        ("cases", data.cases),
        ("case events", data.case_events),
        ("SLA breaches", data.sla_breaches),
        ("reopened cases", data.reopened),
        ("consent records", data.consents),
        ("undeliverable addresses", data.undeliverable),
    ):
        table.add_row(label, f"{count:,}")
    channels = Table(title="Interactions per channel", show_edge=False)
    channels.add_column("channel")
    channels.add_column("interactions", justify="right")
    for channel, count in data.channels.items():
        channels.add_row(channel, f"{count:,}")
    console.print(table)
    console.print(channels)
    console.print(
        f"{where}: filled in {data.seconds:.1f} s. Next: omnikit report --out report.html",
        highlight=False,
        soft_wrap=True,
    )


def _configured(
    config: Path | None, kit: str | None, url: str | None
) -> tuple[ServeConfig, Omnikit]:
    """The TOML settings and the kit ``serve`` and ``worker`` run: ``--kit``'s, or one
    opened at ``--url`` (else the config's URL), with the config's adapters added."""
    from omnikit.server import ServeConfig, load_config

    settings = load_config(config) if config is not None else ServeConfig()
    the_kit = _load_kit(kit) if kit is not None else None
    if the_kit is None:
        the_kit = Omnikit(url or settings.url, default_region=settings.default_region)
    for name, options in settings.adapters.items():
        the_kit.adapters.use(name, **options)
    return settings, the_kit


def _load_kit(target: str) -> Omnikit:
    """The kit named ``module:attribute``: an ``Omnikit``, or a function returning one."""
    import importlib

    from omnikit.errors import ValidationError

    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValidationError(f"--kit {target!r} must look like 'package.module:attribute'")
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValidationError(f"--kit {target!r} cannot be imported: {error}") from None
    if not isinstance(value, Omnikit) and callable(value):
        value = value()
    if not isinstance(value, Omnikit):
        raise ValidationError(f"--kit {target!r} is not an Omnikit, nor a function returning one")
    return value


def main() -> None:
    """Entry point of the ``omnikit`` console script."""
    if _MISSING is not None:  # pragma: no cover - exercised without the extra only
        print(
            f"the omnikit command needs the 'cli' extra: pip install 'omnikit[cli]' ({_MISSING})",
            file=sys.stderr,
        )
        raise SystemExit(2)
    app()
