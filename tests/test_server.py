"""Daphne as `hub up` runs it (hub/cli/server.py)."""

from __future__ import annotations

import io
from typing import Any

from daphne.http_protocol import HTTPFactory
from twisted.web.test.requesthelper import DummyChannel

from hub.cli.server import _HTTPFactory, _Server


def _request(server: _Server) -> Any:
    protocol = server.http_factory.buildProtocol(("127.0.0.1", 0))
    channel = DummyChannel()
    channel.factory = server.http_factory
    return protocol.requestFactory(channel)


def test_request_bodies_reach_the_application_unparsed_by_twisted() -> None:
    """Twisted decoded every form or multipart POST into `request.args` (never read: the application gets
    the raw body), parsing the Content-Type with the email package first: CPU on every webhook, and a second
    copy of every upload."""
    server = _Server(application=lambda *a: None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not listened on
    server.connections = {}
    server.http_factory = HTTPFactory(server)  # what Server.run does
    assert isinstance(server.http_factory, _HTTPFactory)
    processed: list[bytes] = []
    for ctype, body in ((b"application/x-www-form-urlencoded", b"From=%2B14155550100&Body=hi"),
                        (b"multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; "
                                                              b'name="a"\r\n\r\n1\r\n--x--\r\n')):
        request = _request(server)
        request.requestHeaders.setRawHeaders(b"content-type", [ctype])
        request.content = io.BytesIO(body)
        request.content.seek(0, io.SEEK_END)
        request.process = lambda request=request: processed.append(request.content.read())
        request.requestReceived(b"POST", b"/webhooks/twilio/sms", b"HTTP/1.1")
        assert request.args == {}
    assert processed == [b"From=%2B14155550100&Body=hi", b"--x\r\nContent-Disposition: form-data; "
                                                         b'name="a"\r\n\r\n1\r\n--x--\r\n']
