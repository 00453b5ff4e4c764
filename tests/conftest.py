"""Shared fixtures: a kit on every store backend the facade tests run against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from omnikit import Omnikit

BACKENDS = ["sqlite-file", "sqlite-memory"]


def make_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite-file":
        return f"sqlite:///{tmp_path / 'omnikit.db'}"
    if backend == "sqlite-memory":
        return "sqlite:///:memory:"
    raise AssertionError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the store backend under test."""
    return str(request.param)


@pytest.fixture
def kit(backend: str, tmp_path: Path) -> Iterator[Omnikit]:
    """A kit reading Dutch national numbers, on each backend in turn."""
    with Omnikit(make_url(backend, tmp_path), default_region="NL") as kit:
        yield kit
