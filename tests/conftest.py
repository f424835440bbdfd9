from __future__ import annotations

import os
import tempfile

# Before Django reads its settings: tests run tasks at commit and keep their files out of ./var.
os.environ.setdefault("HUB_TASK_MODE", "sync")
os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="hub-test-"))

import pytest
from django.db import connection

REQUIRE_SERVICES = os.environ.get("HUB_TEST_REQUIRE_SERVICES") == "1"


def needs_service(name: str, reason: str) -> None:
    """Skip, or fail when CI requires every service (HUB_TEST_REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{name} is required here but unavailable: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@pytest.fixture(autouse=True)
def _postgres_marker(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass of make test (HUB_DATABASE_URL=postgres://...)")


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _clean_task_runner() -> None:
    from hub.taskqueue import runner

    runner.clear()
    yield
    runner.clear()
