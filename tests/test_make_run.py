"""`make run` is `hub up`: from an empty data folder to a serving hub with demo data, and a clean stop."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.hubprocess import HubProcess, free_port


def conversations_in(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "hub.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM hub_conversation").fetchone()[0])


def test_hub_up_serves_with_demo_data_and_stops_cleanly(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path, free_port())
    try:
        hub.wait_healthy()
        out = hub.output
        assert f"The hub is running at {hub.url}/" in out
        for username, password in (("alice", "alice-demo"), ("bob", "bob-demo"), ("wei", "wei-demo"),
                                   ("sofia", "sofia-demo"), ("admin", "admin-demo")):
            assert username in out and password in out, out
        assert "Traceback" not in out
        status, body = hub.get("/readyz")
        assert status == 200, body
        assert hub.get("/static/admin/css/base.css")[0] == 200
        # The in-process runner delivered the demo's replies through the log connector.
        sent = [json.loads(line) for line in (tmp_path / "outbound.log.jsonl").read_text("utf-8").splitlines()]
        assert len(sent) >= 8 and any("王" in record["text"] for record in sent)
    finally:
        assert hub.stop() == 0, hub.output
    seeded = conversations_in(tmp_path)
    assert seeded >= 10

    # A second start is not a first run: nothing is loaded again, the logins are still shown.
    again = HubProcess(tmp_path, free_port())
    try:
        again.wait_healthy()
        assert "loading the demo data" not in again.output and "alice-demo" in again.output
    finally:
        assert again.stop() == 0, again.output
    assert conversations_in(tmp_path) == seeded
