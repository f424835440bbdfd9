"""`hub up` in a child process on its own data folder: what the `make run` and browser tests start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STARTUP_LIMIT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_env(data_dir: Path, port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The embedded defaults, unless `extra` says otherwise: no database or Redis URL inherited from the test
    run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_DATA_DIR=str(data_dir), HUB_HOST="127.0.0.1", HUB_PORT=str(port),
               HUB_TASK_MODE="inprocess", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


class HubProcess:
    """`hub up` in a child process, its output collected by a thread so the pipe never fills."""

    def __init__(self, data_dir: Path, port: int, *, args: tuple[str, ...] = (),
                 env: Mapping[str, str] | None = None) -> None:
        self.env = embedded_env(data_dir, port, env)
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "up", *args], cwd=REPO, env=self.env,
                                     text=True, encoding="utf-8", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
