"""Finding connectors: the built-in list plus the `hub.connectors` entry-point group (Saleor's way, no
import side effects). The hub looks connectors up here by id and never imports one directly."""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from connectors.base import Connector

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hub.connectors"

# "module:Class" of the connectors that ship with the hub.
BUILTIN_CONNECTORS: list[str] = [
    "connectors.log.connector:LogConnector",
    "connectors.email.connector:EmailConnector",
    "connectors.sms.connector:SmsConnector",
    "connectors.voice.connector:VoiceConnector",
    "connectors.weibo.connector:WeiboConnector",
    "connectors.slack.connector:SlackConnector",
    "connectors.webchat.connector:WebchatConnector",
]


def _load(path: str) -> type[Connector]:
    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"{path} is not a Connector subclass")
    return cls


@cache
def connectors() -> dict[str, Connector]:
    """Every available connector by id. A broken third-party plugin is logged and skipped, never fatal."""
    found: dict[str, Connector] = {}
    for path in BUILTIN_CONNECTORS:
        cls = _load(path)
        found[cls.id] = cls()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Connector)):
                raise TypeError("not a Connector subclass")
        except Exception:
            logger.exception("connector plugin %s could not be loaded", ep.value)
            continue
        if cls.id in found and ep.name != cls.id:
            logger.warning("connector plugin %s overrides built-in %s", ep.value, cls.id)
        found[cls.id] = cls()
    return found


def get(connector_id: str) -> Connector | None:
    return connectors().get(connector_id)


def log_connector() -> Connector:
    connector = get("log")
    assert connector is not None
    return connector
