"""Serving the ASGI application with Daphne: inside this process, or in several child processes that
share one listening socket (`HUB_WEB_PROCESSES`).

In-process by default: in the embedded mode the task runner's thread must live in the process that
enqueues, and one process is also what `make run` promises. Daphne runs one interpreter, so one process
uses one core at most; with Redis and Celery, `hub up` can start one Daphne per core on the same socket
(Daphne's `--fd` way, supervised here), and the kernel hands each new connection to one of them.
"""

from __future__ import annotations

import functools
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.endpoints import build_endpoint_description_strings
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from hub.cli.errors import CliError
from hub.cli.server_names import SERVE_FD_COMMAND


class _HTTPFactory(HTTPFactory):
    """Daphne's HTTP factory, with requests that leave the body alone. Twisted parses every POST body that
    is a form or multipart into `request.args`, which Daphne never reads (the application gets the raw
    body): for each webhook a Content-Type parse through the email package and the form decoded once more,
    and for an upload a second copy of the whole multipart body in memory. `parsePOSTFormSubmission` is
    Twisted's switch for that."""

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = functools.partial(WebRequest, parsePOSTFormSubmission=False)
        return protocol


class _Server(Server):
    """Daphne's server, keeping the reason a listen failed for the CLI's message (Daphne logs it), with the
    HTTP factory above in place of the one `Server.run` builds."""

    listen_failure = ""

    @property
    def http_factory(self) -> HTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, built: HTTPFactory) -> None:
        self._http_factory = _HTTPFactory(self)  # Server.run builds the factory and listens with it at once

    def listen_error(self, failure: Any) -> None:
        self.listen_failure = str(failure.getErrorMessage())
        self.stop()


def check_port_free(host: str, port: int) -> None:
    """Fail before migrating and loading anything when another process holds the port."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option Twisted sets, so that a port in TIME_WAIT after a restart counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                           "(another hub running? choose another port with HUB_PORT)") from exc


def application() -> Any:
    from hub.asgi import application as hub_application

    # One process serves everything here, static files included (the admin's and the web pages'); a
    # scaled-out installation puts a proxy in front that serves them from HUB_DATA_DIR/static instead.
    return ASGIStaticFilesHandler(hub_application)


logger = logging.getLogger(__name__)

_QUICK_DEATH = 5.0  # a child that exits sooner than this after its start failed to start
_QUICK_DEATHS_TOLERATED = 3
_STOP_GRACE = 10.0


def serve(host: str, port: int, *, on_ready: Callable[[], None], access_log: bool = True,
          processes: int = 1) -> None:
    """Listen on host:port until SIGINT or SIGTERM. `on_ready` runs once the socket is bound."""
    if processes > 1:
        _serve_in_children(host, port, processes, on_ready=on_ready, access_log=access_log)
        return
    _run_daphne(build_endpoint_description_strings(host=host, port=port), on_ready=on_ready,
                access_log=access_log, failure=f"cannot listen on {host}:{port}")


def serve_fd(fd: int, *, access_log: bool = True) -> None:
    """A child of `_serve_in_children`: serve on the listening socket inherited as `fd` until signalled."""
    _run_daphne(build_endpoint_description_strings(file_descriptor=fd), on_ready=lambda: None,
                access_log=access_log, failure=f"cannot serve on the inherited socket {fd}")


def _run_daphne(endpoints: list[str], *, on_ready: Callable[[], None], access_log: bool, failure: str) -> None:
    server = _Server(
        application=application(),
        endpoints=endpoints,
        signal_handlers=True,
        action_logger=AccessLogGenerator(sys.stdout) if access_log else None,
        ready_callable=on_ready,
        verbosity=1,
    )
    from hub.gc_freeze import freeze_after_startup

    freeze_after_startup()
    server.run()
    if server.abort_start:
        raise CliError(server.listen_failure or failure)


def _serve_in_children(host: str, port: int, processes: int, *, on_ready: Callable[[], None],
                       access_log: bool) -> None:
    """Bind here, start `processes` Daphne children on the socket, restart one that dies, and stop them
    all on SIGINT or SIGTERM. Connections that arrive while a child restarts wait in the socket's backlog."""
    if ":" in host.strip("[]"):
        # Daphne's inherited-socket endpoint only knows IPv4 sockets.
        raise CliError(f"HUB_WEB_PROCESSES above 1 needs an IPv4 HUB_HOST, not {host}")
    try:
        listener = socket.create_server((host, port), backlog=2048)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    command = [sys.executable, "-m", "hub.cli", SERVE_FD_COMMAND, str(listener.fileno())]
    if not access_log:
        command.append("--no-access-log")

    def start() -> tuple[subprocess.Popen[bytes], float]:
        # The command is this interpreter and module with a number: nothing from outside.
        return subprocess.Popen(command, pass_fds=(listener.fileno(),)), time.monotonic()  # noqa: S603

    children = [start() for _ in range(processes)]
    quick_deaths = 0
    try:
        on_ready()
        while not stopping:
            time.sleep(0.2)
            for i, (child, started) in enumerate(children):
                code = child.poll()
                if code is None or stopping:
                    continue
                quick_deaths = quick_deaths + 1 if time.monotonic() - started < _QUICK_DEATH else 0
                if quick_deaths > _QUICK_DEATHS_TOLERATED:
                    raise CliError(f"the web processes keep exiting at start (last exit code {code})")
                logger.error("web process %d exited with code %s; starting another", child.pid, code)
                children[i] = start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_children([child for child, _ in children])
        listener.close()


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # Daphne closes its connections and exits
    deadline = time.monotonic() + _STOP_GRACE
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
