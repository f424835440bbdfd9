"""`make run` is `hub up`: from an empty data folder to a serving hub with demo data, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STARTUP_LIMIT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """`hub up` in a child process, its output collected by a thread so the pipe never fills."""

    def __init__(self, data_dir: Path, port: int) -> None:
        # Only the embedded defaults: no database or Redis URL inherited from the test run.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(HUB_DATA_DIR=str(data_dir), HUB_HOST="127.0.0.1", HUB_PORT=str(port),
                   HUB_TASK_MODE="inprocess", PYTHONUNBUFFERED="1")
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "up"], cwd=REPO, env=env, text=True,
                                     encoding="utf-8", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_healthy(self) -> float:
        started = time.monotonic()
        while time.monotonic() - started < STARTUP_LIMIT:
            if self.proc.poll() is not None:
                pytest.fail(f"hub up exited with {self.proc.returncode}:\n{self.output}")
            try:
                if self.get("/healthz")[0] == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"/healthz did not answer 200 within {STARTUP_LIMIT:.0f} s:\n{self.output}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode


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
