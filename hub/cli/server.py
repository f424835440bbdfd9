"""Serving the ASGI application with Daphne inside this process.

In-process rather than `daphne` as a child: in the embedded mode the task runner's thread must live in the
process that enqueues, and one process is also what `make run` promises.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from hub.cli.errors import CliError


class _Server(Server):
    """Daphne's server, keeping the reason a listen failed for the CLI's message (Daphne logs it)."""

    listen_failure = ""

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


def serve(host: str, port: int, *, on_ready: Callable[[], None], access_log: bool = True) -> None:
    """Listen on host:port until SIGINT or SIGTERM. `on_ready` runs once the socket is bound."""
    endpoints = build_endpoint_description_strings(host=host, port=port)
    server = _Server(
        application=application(),
        endpoints=endpoints,
        signal_handlers=True,
        action_logger=AccessLogGenerator(sys.stdout) if access_log else None,
        ready_callable=on_ready,
        verbosity=1,
    )
    server.run()
    if server.abort_start:
        raise CliError(server.listen_failure or f"cannot listen on {host}:{port}")
