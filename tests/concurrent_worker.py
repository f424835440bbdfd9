"""A separate process for the concurrency tests: waits for a shared start time, then ingests (or, with
"mode": "route", runs routing rounds).

Usage: python -m tests.concurrent_worker START_EPOCH JSON_SPEC  (HUB_DATABASE_URL names the test database)
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    start, spec = float(sys.argv[1]), json.loads(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    from connectors.base import InboundMessage, Sender
    from hub.actions.ingestion import do_ingest_message
    from hub.models import ChannelAccount

    if spec.get("mode") == "route":
        from routing.adapter import route

        time.sleep(max(0.0, start - time.time()))
        print(json.dumps([{"applied": route()} for _ in range(spec["rounds"])]))
        return
    account = ChannelAccount.objects.get(pk=spec["account"])
    results = []
    time.sleep(max(0.0, start - time.time()))
    for pid in spec["pids"]:
        inbound = InboundMessage(provider_message_id=pid, sender=Sender(spec["kind"], spec["address"]),
                                 text=spec["text"])
        result = do_ingest_message(account, inbound)
        results.append({"message": result.message.pk, "created": result.created,
                        "conversation": result.message.conversation_id})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
