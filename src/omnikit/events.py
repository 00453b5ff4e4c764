"""Event handlers: ``kit.on("case.opened", handler)``, called after the change commits.

A write collects the events it causes while its transaction runs; they reach the
handlers only once the transaction has committed, so a call that fails or rolls back
emits nothing. A handler that raises is logged and does not undo the write or stop
the other handlers. Handlers run in the thread that made the change, in the order
they were registered; keep them quick, or hand the work to a queue of your own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, overload

from omnikit.errors import ValidationError
from omnikit.model import EVENT_TYPES, Event

__all__ = ["EventHandler", "Events"]

log = logging.getLogger("omnikit.events")

EventHandler = Callable[[Event], object]
"""A function that takes an ``Event``; what it returns is ignored."""


class Events:
    """The handlers registered on a kit, and the events waiting for a commit."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[EventHandler]] = {}
        self._local = threading.local()
        self.durable: Callable[[str], bool] | None = None
        """Says whether an event type must be kept for webhook subscribers even when no
        handler listens (set by ``kit.webhooks``)."""

    @overload
    def on(self, event_type: str) -> Callable[[EventHandler], EventHandler]: ...
    @overload
    def on(self, event_type: str, handler: EventHandler) -> EventHandler: ...

    def on(
        self, event_type: str, handler: EventHandler | None = None
    ) -> EventHandler | Callable[[EventHandler], EventHandler]:
        """Call ``handler(event)`` after each committed change of ``event_type``.

        ``event_type`` is one of ``omnikit.EVENT_TYPES`` or ``"*"`` for all. Returns
        the handler, so ``@kit.on("case.opened")`` works as a decorator. Raises
        ``ValidationError`` for an unknown type or a handler that is not callable.
        """
        if event_type != "*" and event_type not in EVENT_TYPES:
            known = ", ".join(EVENT_TYPES)
            raise ValidationError(
                f"{event_type!r} is not an event type; use '*' or one of: {known}"
            )
        if handler is None:
            return lambda function: self.on(event_type, function)
        if not callable(handler):
            raise ValidationError(f"event handler {handler!r} is not callable")
        self._handlers.setdefault(event_type, []).append(handler)
        return handler

    def off(self, event_type: str, handler: EventHandler) -> None:
        """Stop calling ``handler`` for ``event_type``; nothing happens if it was not on."""
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

    def wanted(self, event_type: str) -> bool:
        """True when some handler listens to ``event_type``: build the event only then."""
        if self._handlers.get(event_type) or self._handlers.get("*"):
            return True
        durable = self.durable
        return durable is not None and durable(event_type)

    def mark(self) -> int:
        """How many events wait in this thread's ``collecting`` block: pass it to
        ``since`` to get the events added after this point."""
        pending: list[Event] | None = getattr(self._local, "pending", None)
        return 0 if pending is None else len(pending)

    def since(self, mark: int) -> list[Event]:
        """The events added to this thread's ``collecting`` block after ``mark``."""
        pending: list[Event] | None = getattr(self._local, "pending", None)
        return [] if pending is None else pending[mark:]

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Hold the events added inside until the block ends without an error, then
        emit them. Open it outside the store transaction so that the commit happens
        first; nested blocks join the outermost one."""
        if getattr(self._local, "pending", None) is not None:
            yield
            return
        pending: list[Event] = []
        self._local.pending = pending
        try:
            yield
        finally:
            self._local.pending = None
        self._emit(pending)

    def add(self, event_type: str, **fields: Any) -> None:
        """Queue an event for the enclosing ``collecting`` block, if anyone listens."""
        if not self.wanted(event_type):
            return
        pending: list[Event] | None = getattr(self._local, "pending", None)
        event = Event.trusted(**_event_fields(event_type, fields))
        if pending is None:  # pragma: no cover - every write path collects
            self._emit([event])
        else:
            pending.append(event)

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            for handler in (*self._handlers.get(event.type, ()), *self._handlers.get("*", ())):
                try:
                    handler(event)
                except Exception:
                    log.exception("event handler %r failed on %s", handler, event.type)


def _event_fields(event_type: str, fields: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "type": event_type,
        "customer_id": None,
        "customer": None,
        "interaction": None,
        "case": None,
        "merge": None,
        "detail": {},
    }
    values.update(fields)
    return values
