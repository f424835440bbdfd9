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
def _fresh_routing_snapshot() -> None:
    """The chat's routing snapshot (web/chat_state.py) lives a second: never across tests' databases."""
    from web import chat_state

    chat_state._snapshot = None


@pytest.fixture(autouse=True)
def _fresh_webhook_accounts() -> None:
    """Webhooks keep the accounts they look up for a few seconds: never across tests' databases."""
    from hub.connector_port import webhook_accounts

    webhook_accounts.clear()


@pytest.fixture(autouse=True)
def _clean_task_runner() -> None:
    from hub.taskqueue import runner

    runner.clear()
    yield
    runner.clear()


# The PostgreSQL pass of `make test` (HUB_TEST_PASS=postgres) runs what depends on the database: tests that
# use it (a django_db mark), the PostgreSQL- and Redis-marked ones, and the command-line tests that start hub
# processes on it. Pure tests (the routing engine, MIME parsing) and a connector's own provider-format tests
# give the same answer on either database and run in the SQLite pass only; every connector still runs the
# shared contract and the webhook pipeline's tests on PostgreSQL.
_PROVIDER_FORMAT_MODULES = {
    "test_email_parsing", "test_email_outbound", "test_email_smtp", "test_email_imap",
    "test_sms", "test_sms_units", "test_slack", "test_slack_units",
    "test_weibo", "test_weibo_connector", "test_voice",
}
# The search contract asks the engines the same questions whatever the database; on PostgreSQL what differs
# is the indexer's locking and backlog, which test_search_indexer runs there.
_PROVIDER_FORMAT_MODULES |= {"test_contract", "test_api", "test_search_page", "test_embedded_pairs"}
_PROCESS_MODULES = {"test_cli", "test_make_run"}
_DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
                "live_server", "admin_client", "admin_user"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HUB_TEST_PASS") != "postgres":
        return
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        uses_services = (any(item.get_closest_marker(m) for m in ("django_db", "postgres", "redis"))
                         or bool(_DB_FIXTURES & set(getattr(item, "fixturenames", ()))))
        if module in _PROCESS_MODULES or (uses_services and module not in _PROVIDER_FORMAT_MODULES):
            kept.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
