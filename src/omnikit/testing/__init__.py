"""Test kits shipped with omnikit, for our backends and for integrators' packages.

``StoreConformance`` holds every behaviour the ``Store`` protocol promises. A backend
passes it by subclassing it in a pytest module and providing one fixture::

    from omnikit.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path):
            # a function opening a Store on ONE empty database for this test;
            # calling it again opens the same database again
            return lambda: MyStore(tmp_path / "db")

``AdapterConformance`` does the same for channel adapters (see
``omnikit.testing.adapters`` and ``docs/adapters.md``).

It needs pytest and hypothesis (the ``omnikit[test]`` extra).
"""

from omnikit.testing.adapters import AdapterConformance
from omnikit.testing.store import StoreConformance

__all__ = ["AdapterConformance", "StoreConformance"]
