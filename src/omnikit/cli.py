"""The ``omnikit`` command (typer + rich, in the extra ``omnikit[cli]``).

``omnikit demo`` plays the web shop → phone → e-mail → store story on an SQLite file
and prints the customer card and the journey (``omnikit demo --customers N`` fills a
store with synthetic history instead, :mod:`omnikit.demo_data`); ``omnikit serve``
runs the webhook receiver (``omnikit.server``) with uvicorn. The operator commands (``import``,
``card``, ``journey``, ``export``, ``erase``, ``db upgrade``) work on the store at
``--url`` and share one way of failing: ``error: <message>`` on stderr and an exit
code that says what kind of failure it was (``EXIT_CODES``; ``--debug`` shows the
traceback instead). See ``docs/cli.md``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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

__all__ = ["EXIT_CODES", "app", "main", "render_card", "render_journey"]

EXIT_CODES = {
    0: "done",
    1: "done, but some rows were rejected (omnikit import)",
    2: "bad usage or input: an unknown option, a value that breaks a rule, a bad file",
    3: "not found: no such customer, or no store at --url",
    4: "conflict: identifiers of different customers, a customer erased already",
    5: "the store failed: it cannot be opened, upgraded or reached",
    6: "cancelled: erase was not confirmed",
}
"""The operator commands' exit codes and what each means."""

_DEBUG = [False]
"""Whether the root option ``--debug`` was given (set by the root callback)."""


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
    def _root(
        debug: Annotated[
            bool, typer.Option("--debug", help="On an error, show the full traceback.")
        ] = False,
    ) -> None:
        """omnikit: one customer, one timeline, one case, on every channel."""
        _DEBUG[0] = debug

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


# The operator commands: import, card, journey, export, erase, db upgrade ----------------------


def _exit_code(error: BaseException) -> int:
    """The exit code for an omnikit error (see ``EXIT_CODES``)."""
    from omnikit.errors import (
        AdapterError,
        ConflictError,
        InvalidTransitionError,
        NotFoundError,
        StoreError,
    )

    if isinstance(error, NotFoundError):
        return 3
    if isinstance(error, ConflictError | InvalidTransitionError):
        return 4
    if isinstance(error, StoreError | AdapterError):
        return 5
    return 2


@contextmanager
def _failures() -> Iterator[None]:
    """Turn an omnikit error into ``error: <message>`` on stderr and its exit code; with
    the root option ``--debug`` the error propagates with its traceback."""
    from omnikit.errors import OmnikitError

    try:
        yield
    except OmnikitError as error:
        if _DEBUG[0]:
            raise
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=_exit_code(error)) from None


def _open(url: str | None, region: str | None, *, create: bool = False) -> Omnikit:
    """The kit on the store at ``url`` (default: ``OMNIKIT_URL``, else ``./omnikit.db``).

    Only ``create`` makes a new SQLite file; otherwise a missing file is
    ``NotFoundError``, so that a mistyped path does not leave an empty store behind.
    """
    import os

    from omnikit.errors import NotFoundError
    from omnikit.kit import DEFAULT_URL

    target = url or os.environ.get("OMNIKIT_URL") or DEFAULT_URL
    path = _sqlite_file(target)
    if not create and path is not None and not path.exists():
        raise NotFoundError(
            f"no store at {target!r}: the file {str(path)!r} does not exist "
            "(give --url or set OMNIKIT_URL)"
        )
    return Omnikit(target, default_region=region)


def _sqlite_file(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL; ``None`` for memory or another database."""
    if not url.lower().startswith("sqlite:///"):
        return None
    name = url[len("sqlite:///") :].split("?", 1)[0]
    return None if name in ("", ":memory:") else Path(name)


def _customer_id(kit: Omnikit, who: str, region: str | None) -> str:
    """The id of the customer ``who`` names: an id, an e-mail address, ``system:id``
    (an external id), or a phone number in any written form."""
    import re

    from omnikit.errors import NotFoundError

    text = who.strip()
    if re.fullmatch(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", text
    ):
        return kit.customers.get(text.lower()).id
    if "@" in text:
        found, what = kit.customers.find(email=text), "e-mail address"
    elif ":" in text:
        system, _, value = text.partition(":")
        found, what = kit.customers.find(external_ids={system: value.strip()}), "external id"
    else:
        found, what = kit.customers.find(phone=text, region=region), "phone number"
    if found is None:
        raise NotFoundError(f"no customer with {what} {text!r}")
    return found.id


_URL_HELP = "Store URL (default: OMNIKIT_URL, else ./omnikit.db)."
_REGION_HELP = "Region for phone numbers written without a country code, e.g. NL."

if _MISSING is None:

    @app.command("import")
    def import_(
        file: Annotated[Path, typer.Argument(help="CSV (with a header row) or JSON Lines file.")],
        format: Annotated[
            str | None, typer.Option("--format", help="csv or jsonl (default: by suffix).")
        ] = None,
        map_: Annotated[
            list[str] | None,
            typer.Option("--map", help="COLUMN=FIELD: read a column as a field; repeatable."),
        ] = None,
        rejects: Annotated[
            Path | None,
            typer.Option(
                help="Reject file (default: FILE's name with .rejects before the suffix)."
            ),
        ] = None,
        region: Annotated[str | None, typer.Option(help=_REGION_HELP)] = None,
        encoding: Annotated[str, typer.Option(help="The file's text encoding.")] = "utf-8",
        batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = 1000,
        url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    ) -> None:
        """Import interactions with their customers' identifiers from a CSV or JSON Lines
        file. Bad rows go to a reject file with their line and reason; re-running a file
        imports nothing twice. Exit code 1 when rows were rejected.

        Example: omnikit import contacts.csv --map Telefoon=phone --map Datum=occurred_at
        """
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        from omnikit.errors import ValidationError
        from omnikit.importer import import_file

        with _failures():
            mapping: dict[str, str] = {}
            for item in map_ or []:
                column, sep, target = item.partition("=")
                if not sep or not column.strip() or not target.strip():
                    raise ValidationError(f"--map {item!r} must look like COLUMN=FIELD")
                mapping[column.strip()] = target.strip()
            console = Console(stderr=True)
            bar = Progress(
                TextColumn("importing"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                console=console,
                disable=not console.is_terminal,
                transient=True,
            )
            task = bar.add_task("import", total=1.0, rows=0)

            def progress(rows: int, fraction: float | None) -> None:
                bar.update(task, completed=fraction or 0.0, rows=rows)

            with _open(url, region, create=True) as kit, bar:
                result = import_file(
                    kit,
                    file,
                    format=format,  # type: ignore[arg-type]
                    mapping=mapping,
                    rejects=rejects,
                    region=region,
                    encoding=encoding,
                    batch_size=batch_size,
                    progress=progress,
                )
        summary = (
            f"read {result.rows_read:,} rows: {result.imported:,} imported, "
            f"{result.already_present:,} already present, {result.rejected:,} rejected"
        )
        if result.rejects_path is not None:
            summary += f" (see {result.rejects_path})"
        summary += f"; {result.customers_created:,} new customers"
        if result.ignored_columns:
            summary += f"; columns left out: {', '.join(result.ignored_columns)}"
        typer.echo(summary)
        if result.rejected:
            raise typer.Exit(code=1)

    @app.command()
    def card(
        who: Annotated[
            str, typer.Argument(help="Customer id, e-mail address, phone number or system:id.")
        ],
        region: Annotated[str | None, typer.Option(help=_REGION_HELP)] = None,
        url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    ) -> None:
        """Print a customer's card: identities, open cases, channels, recent contacts.

        Example: omnikit card "06 1234 5678" --region NL
        """
        with _failures(), _open(url, region) as kit:
            render_card(Console(), kit.customer_card(_customer_id(kit, who, region)))

    @app.command()
    def journey(
        who: Annotated[
            str, typer.Argument(help="Customer id, e-mail address, phone number or system:id.")
        ],
        region: Annotated[str | None, typer.Option(help=_REGION_HELP)] = None,
        url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    ) -> None:
        """Print a customer's journey: every contact, oldest first, and the channel path.

        Example: omnikit journey 0194d3a0-7c1e-7000-8000-000000000001
        """
        with _failures(), _open(url, region) as kit:
            render_journey(Console(), kit.journey(_customer_id(kit, who, region)))

    @app.command()
    def export(
        who: Annotated[
            str, typer.Argument(help="Customer id, e-mail address, phone number or system:id.")
        ],
        out: Annotated[
            Path | None, typer.Option(help="Write the JSON here instead of to stdout.")
        ] = None,
        region: Annotated[str | None, typer.Option(help=_REGION_HELP)] = None,
        url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    ) -> None:
        """Print everything omnikit holds about a customer as JSON (a data subject's
        access request).

        Example: omnikit export jan@example.nl --out jan.json
        """
        import json

        from omnikit.errors import ValidationError

        with _failures(), _open(url, region) as kit:
            data = kit.customers.export(_customer_id(kit, who, region))
            text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
            if out is None:
                typer.echo(text, nl=False)
                return
            try:
                out.write_text(text, encoding="utf-8")
            except OSError as error:
                raise ValidationError(f"cannot write {str(out)!r}: {error.strerror}") from None
            typer.echo(f"wrote {out}", err=True)

    @app.command()
    def erase(
        who: Annotated[
            str, typer.Argument(help="Customer id, e-mail address, phone number or system:id.")
        ],
        reason: Annotated[str, typer.Option(help="Why, for the audit trail.")],
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
        actor: Annotated[str | None, typer.Option(help="Who asked, for the audit trail.")] = None,
        region: Annotated[str | None, typer.Option(help=_REGION_HELP)] = None,
        url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    ) -> None:
        """Erase a customer's personal data, keeping anonymous contact facts. Asks for
        confirmation unless --yes; exit code 6 when not confirmed.

        Example: omnikit erase jan@example.nl --reason "request of 2026-03-01" --yes
        """
        with _failures(), _open(url, region) as kit:
            customer = kit.customers.get(_customer_id(kit, who, region))
            if not yes:
                label = f"{customer.name} ({customer.id})" if customer.name else customer.id
                try:
                    confirmed = typer.confirm(f"Erase customer {label}? This cannot be undone")
                except typer.Abort:  # no answer (end of input)
                    typer.echo("", err=True)
                    confirmed = False
                if not confirmed:
                    typer.echo("error: not erased: not confirmed (pass --yes)", err=True)
                    raise typer.Exit(code=6)
            kit.customers.erase(customer.id, reason=reason, actor=actor)
        typer.echo(f"erased customer {customer.id}")

    db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade(url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None) -> None:
        """Bring the store's schema at --url to the newest revision; print the revision
        before and after.

        Example: omnikit db upgrade --url postgresql://omnikit@db.internal/omnikit
        """
        with _failures():
            before, after = _upgrade(url)
        typer.echo(f"schema revision: {before or '(empty store)'} -> {after}")

    @app.command()
    def report(
        start: Annotated[
            datetime | None,
            typer.Option(
                "--from",
                formats=["%Y-%m-%d"],
                help="First day (default: the first day with a contact).",
            ),
        ] = None,
        end: Annotated[
            datetime | None,
            typer.Option(
                "--to",
                formats=["%Y-%m-%d"],
                help="Last day, included (default: the last day with a contact).",
            ),
        ] = None,
        out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
        title: Annotated[str, typer.Option(help="The report's title.")] = "Customer contact report",
        url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
        timezone: Annotated[
            str,
            typer.Option(
                help="Whose days, weeks and months: an IANA name such as Europe/Amsterdam."
            ),
        ] = "UTC",
    ) -> None:
        """Write the management report: contact volume per channel over time, channel
        switches (a Sankey diagram), purposes per channel, channel performance and the
        most common journeys, as one self-contained HTML file that works offline.

        Example: omnikit report --from 2026-01-01 --to 2026-03-31 --out report.html
        --timezone Europe/Amsterdam
        """
        from omnikit.report import write_report

        with _failures(), _open(url, None) as kit:
            written = write_report(
                kit,
                out,
                None if start is None else start.date(),
                None if end is None else end.date(),
                title=title,
                timezone=timezone,
            )
        typer.echo(f"report written to {written}")


def _upgrade(url: str | None) -> tuple[str | None, str | None]:
    """Migrate the store at ``url`` (not created when it is a missing SQLite file);
    return the schema revision before and after."""
    import os

    from sqlalchemy.exc import SQLAlchemyError

    from omnikit.errors import NotFoundError, StoreError, ValidationError
    from omnikit.kit import DEFAULT_URL
    from omnikit.store.migrate import current_revision, upgrade

    target = url or os.environ.get("OMNIKIT_URL") or DEFAULT_URL
    path = _sqlite_file(target)
    if path is not None and not path.exists():
        raise NotFoundError(f"no store at {target!r}: the file {str(path)!r} does not exist")
    scheme = target.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite":
        from omnikit.store.sqlite import create_sqlite_engine as create
    elif scheme in ("postgresql", "postgres"):
        from omnikit.store.postgres import create_postgres_engine as create
    else:
        raise ValidationError(
            f"{scheme!r} is not a supported store: use sqlite:///file.db or "
            "postgresql://user:password@host/database"
        )
    engine = create(target)
    try:
        with engine.connect() as connection:
            before = current_revision(connection)
        upgrade(engine)
        with engine.connect() as connection:
            after = current_revision(connection)
    except SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        raise StoreError(f"cannot reach the store: {cause}") from None
    finally:
        engine.dispose()
    return before, after


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
