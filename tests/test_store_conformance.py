"""Our backends pass the store conformance suite shipped in omnikit.testing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from omnikit.store import Store, open_store
from omnikit.testing import StoreConformance
from tests.conftest import empty_postgres, require_postgres


class TestSqliteFile(StoreConformance):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: open_store(f"sqlite:///{tmp_path / 'conformance.db'}")


class TestSqliteMemory(StoreConformance):
    reopens_same_database = False

    @pytest.fixture
    def open_store(self) -> Callable[[], Store]:
        return lambda: open_store("sqlite:///:memory:")


class TestPostgres(StoreConformance):
    @pytest.fixture
    def open_store(self, request: pytest.FixtureRequest) -> Callable[[], Store]:
        url = require_postgres(request.getfixturevalue("postgres_server")).url
        empty_postgres(url)
        return lambda: open_store(url)
