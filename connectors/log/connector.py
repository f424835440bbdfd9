"""Where outbound goes when a channel has no provider configured (the `make run` defaults): it records
what would have been sent, in the log and in a JSON-lines file, and reports it sent."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from pathlib import Path

from connectors.base import AccountInfo, Capability, Connector, OutboundMessage, SendResult

logger = logging.getLogger("connectors.log")
_lock = threading.Lock()


class LogConnector(Connector):
    id = "log"
    name = "Log (no provider configured)"
    identity_kind = ""
    capabilities = frozenset({Capability.TEXT, Capability.HTML, Capability.ATTACHMENTS})

    def outbox_path(self) -> Path:
        return Path(os.environ.get("HUB_DATA_DIR") or "./var") / "outbound.log.jsonl"

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        provider_id = f"log-{uuid.uuid4()}"
        record = {
            "provider_message_id": provider_id,
            "channel": account.channel,
            "from": account.address,
            "to": message.to,
            "subject": message.subject,
            "text": message.text,
            "attachments": [a.name for a in message.attachments],
            "hub_message_id": message.message_id,
        }
        logger.info("would send on %s from %s to %s: %.80r", account.channel, account.address, message.to,
                    message.text)
        path = self.outbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with _lock, path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        return SendResult(provider_message_id=provider_id)
