"""A local HTTP server standing in for a provider's API (Twilio, Slack, Weibo): tests give it handlers
that answer the way the provider's documentation says, and read back what the hub sent."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


Handler = Callable[[Recorded], Answer]


class FakeProvider:
    """Routes are (method, path regex) -> handler. `fail_next(answer, times)` answers the next requests
    with `answer` instead (a 429, a 503...), whatever the route."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Recorded] = []
        self._failures: list[Answer] = []
        self._lock = threading.Lock()
        provider = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query),
                                    {k.lower(): v for k, v in self.headers.items()}, body)
                answer = provider._answer(recorded)
                data, default_type = answer.encoded()
                self.send_response(answer.status)
                headers = {"Content-Type": default_type, **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method.upper(), re.compile(pattern), handler))

    def reset(self) -> None:
        """Forget requests and pending failures (a server shared by a module's tests); routes stay."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def fail_next(self, answer: Answer, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([answer] * times)

    def _answer(self, recorded: Recorded) -> Answer:
        with self._lock:
            self.requests.append(recorded)
            if self._failures:
                return self._failures.pop(0)
        for method, pattern, handler in self.routes:
            if method == recorded.method and pattern.fullmatch(recorded.path):
                return handler(recorded)
        return Answer(404, {"error": f"no route for {recorded.method} {recorded.path}"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    try:
        yield provider
    finally:
        provider.close()
