"""`hub up` with several web processes on one port (HUB_WEB_PROCESSES, hub/cli/server.py), on PostgreSQL and
Redis as a production host runs it."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dj_database_url
import psycopg
import pytest

from tests.conftest import needs_service
from tests.hubprocess import HubProcess, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def database_url() -> Iterator[str]:
    """A database of its own: `hub up` migrates it, beside the test run's."""
    cfg = dj_database_url.parse(os.environ["HUB_DATABASE_URL"])
    name = f"hub_webprocs_{uuid.uuid4().hex[:8]}"
    admin = {"host": cfg["HOST"], "port": cfg["PORT"] or 5432, "user": cfg["USER"], "dbname": "postgres",
             "password": cfg.get("PASSWORD") or None}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    user = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else "")
    yield f"postgres://{user}@{cfg['HOST']}:{admin['port']}/{name}"
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        needs_service("Redis", str(exc))
    return REDIS_URL


def _web_processes(parent: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"_serve-fd" in cmdline:
            found.add(int(entry.name))
    return found


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail("condition not met in time")


def test_web_processes_share_the_port_and_one_that_dies_is_replaced(tmp_path: Path, database_url: str,
                                                                    redis_url: str) -> None:
    hub = HubProcess(tmp_path, free_port(), args=("--processes", "2", "--no-demo", "--no-access-log"),
                     env={"HUB_DATABASE_URL": database_url, "HUB_REDIS_URL": redis_url, "HUB_TASK_MODE": "celery",
                          "HUB_SMTP_PORT": "0"})
    try:
        hub.wait_healthy()
        assert "2 processes on this port" in hub.output
        _until(lambda: len(_web_processes(hub.proc.pid)) == 2)
        first = _web_processes(hub.proc.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _until(lambda: len(_web_processes(hub.proc.pid)) == 2 and victim not in _web_processes(hub.proc.pid))
        assert all(hub.get("/healthz")[0] == 200 for _ in range(20))
        assert f"web process {victim} exited" in hub.output
        serving = _web_processes(hub.proc.pid)
    finally:
        code = hub.stop()
    assert code == 0, hub.output
    for pid in serving:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
