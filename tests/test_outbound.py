"""The outbox: replies are rows before any provider call; delivery retries with backoff; failures show."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from connectors import registry
from connectors.base import AccountInfo, Connector, OutboundMessage, PermanentFailure, SendResult, TemporaryFailure
from hub import tasks
from hub.actions import ActionError
from hub.actions.ingestion import do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.models import Change, Conversation, Message
from hub.taskqueue import InProcessRunner, runner
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


class FlakyConnector(Connector):
    id = "sms"
    name = "Flaky SMS"
    identity_kind = "phone"

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.sent: list[OutboundMessage] = []

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return SendResult(provider_message_id=f"SM{message.message_id}")


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyConnector]:
    connector = FlakyConnector([])
    found = dict(registry.connectors())
    found["sms"] = connector
    monkeypatch.setattr(registry, "connectors", lambda: found)
    yield connector


@pytest.fixture
def conv() -> Conversation:
    return do_ingest_message(f.account("sms"), f.inbound("my parcel?", pid="SMin1")).message.conversation


def test_reply_is_stored_queued_before_the_provider_is_called(conv: Conversation, flaky: FlakyConnector,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen_status: list[str] = []

    def spy(account: AccountInfo, message: OutboundMessage) -> SendResult:
        seen_status.append(Message.objects.get(pk=message.message_id).status)
        return SendResult("SMx")

    monkeypatch.setattr(flaky, "send", spy)
    msg = do_send_reply(f.agent("ann"), conv, "Your parcel ships today")
    assert seen_status == ["queued"]
    msg.refresh_from_db()
    assert msg.status == "sent" and msg.provider_message_id == "SMx" and msg.attempts == 1


def test_temporary_failures_retry_with_backoff_then_send(conv: Conversation, flaky: FlakyConnector) -> None:
    flaky.failures = [TemporaryFailure("HTTP 503"), TemporaryFailure("HTTP 429")]
    msg = do_send_reply(f.agent("ann"), conv, "retry me")
    msg.refresh_from_db()
    assert msg.status == "queued" and msg.attempts == 1 and msg.failure_reason == "HTTP 503"
    assert runner.pending() == 1
    runner.drain()
    msg.refresh_from_db()
    assert msg.status == "sent" and msg.attempts == 3 and msg.failure_reason == ""
    assert [m.text for m in flaky.sent] == ["retry me"]
    assert flaky.sent[0].to == "+14155550100"


def test_permanent_failure_is_visible_and_not_retried(conv: Conversation, flaky: FlakyConnector) -> None:
    flaky.failures = [PermanentFailure("21610: the number has opted out")]
    msg = do_send_reply(f.agent("ann"), conv, "hi")
    msg.refresh_from_db()
    assert msg.status == "failed" and msg.failure_reason == "21610: the number has opted out"
    assert runner.pending() == 0
    event = Change.objects.filter(type="message.status").last()
    assert event is not None and event.payload["permanent"] is True and event.payload["status"] == "failed"


def test_retries_are_bounded_and_end_in_a_visible_failure(conv: Conversation, flaky: FlakyConnector,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.deliver_message, "max_retries", 2)
    flaky.failures = [TemporaryFailure("timeout")] * 10
    msg = do_send_reply(f.agent("ann"), conv, "doomed")
    runner.drain()
    msg.refresh_from_db()
    assert msg.status == "failed" and msg.attempts == 3
    assert msg.failure_reason == "gave up after retries: timeout"
    assert runner.pending() == 0


def test_a_crashing_connector_does_not_leave_the_message_queued(conv: Conversation, flaky: FlakyConnector,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.deliver_message, "max_retries", 1)
    flaky.failures = [KeyError("bug"), KeyError("bug")]
    msg = do_send_reply(f.agent("ann"), conv, "x")
    runner.drain()
    msg.refresh_from_db()
    assert msg.status == "failed" and "connector error: KeyError" in msg.failure_reason


def test_delivery_task_is_idempotent(conv: Conversation, flaky: FlakyConnector) -> None:
    msg = do_send_reply(f.agent("ann"), conv, "once")
    assert tasks.deliver_message.run(msg.pk) == "skipped"
    assert len(flaky.sent) == 1


def test_unconfigured_channel_goes_to_the_log_connector(conv: Conversation) -> None:
    msg = do_send_reply(f.agent("ann"), conv, "logged, not sent")
    msg.refresh_from_db()
    assert msg.status == "sent" and (msg.provider_message_id or "").startswith("log-")
    lines = (Path(django_settings.DATA_DIR) / "outbound.log.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["to"] == "+14155550100" and record["text"] == "logged, not sent"
    assert record["hub_message_id"] == msg.pk


def test_double_submit_with_client_id_stores_one_reply(conv: Conversation, flaky: FlakyConnector) -> None:
    agent = f.agent("ann")
    a = do_send_reply(agent, conv, "hello", client_id="c-1")
    b = do_send_reply(agent, conv, "hello", client_id="c-1")
    assert a.pk == b.pk
    assert Message.objects.filter(direction="out").count() == 1 and len(flaky.sent) == 1


def test_reply_needs_text_and_an_address(conv: Conversation) -> None:
    agent = f.agent("ann")
    with pytest.raises(ActionError, match="needs text"):
        do_send_reply(agent, conv, "   ")
    with pytest.raises(ActionError, match="no email address"):
        do_send_reply(agent, conv, "by mail?", account=f.account("email"))
    assert Message.objects.filter(direction="out").count() == 0


def test_reply_on_another_of_the_customers_channels(conv: Conversation) -> None:
    do_ingest_message(f.account("email"), f.inbound("mail", kind="email", address="ann@example.com"))
    customer = conv.customer
    # Same person: link the email identity to the SMS customer through a merge.
    from hub.actions.customers import do_merge_customers
    from hub.models import Identity

    email_customer = Identity.objects.get(kind="email").customer
    do_merge_customers(f.agent("sup", role="supervisor"), email_customer, customer)
    msg = do_send_reply(f.agent("ann"), conv, "Sent you the invoice by mail", account=f.account("email"))
    assert msg.channel_account.channel == "email" and msg.metadata["to"] == "ann@example.com"
    assert msg.conversation_id == conv.pk


def test_first_reply_sets_first_response_time_once(conv: Conversation) -> None:
    agent = f.agent("ann")
    do_send_reply(agent, conv, "one")
    first = Conversation.objects.get(pk=conv.pk).first_response_at
    do_send_reply(agent, conv, "two")
    conv.refresh_from_db()
    assert first is not None and conv.first_response_at == first and conv.assignee_id == agent.pk


def _orphan(conv: Conversation, **fields: Any) -> Message:
    agent = f.agent()
    defaults: dict[str, Any] = {"created_at": timezone.now() - timedelta(minutes=10)}
    defaults.update(fields)
    return Message.objects.create(conversation=conv, direction="out", author_kind="agent", author_user=agent,
                                  channel_account=conv.channel_account, text="lost task", status="queued",
                                  metadata={"to": "+14155550100"}, **defaults)


def test_stale_queued_messages_are_requeued(conv: Conversation, flaky: FlakyConnector) -> None:
    never_tried = _orphan(conv)
    fresh = _orphan(conv, created_at=timezone.now())
    assert tasks.requeue_stale_outbound.run() == 1
    never_tried.refresh_from_db()
    fresh.refresh_from_db()
    assert never_tried.status == "sent" and fresh.status == "queued"
    assert [m.text for m in flaky.sent] == ["lost task"]


def test_a_lost_retry_is_requeued_only_after_the_longest_backoff(conv: Conversation,
                                                                 flaky: FlakyConnector) -> None:
    waiting = _orphan(conv, attempts=2, last_attempt_at=timezone.now() - timedelta(minutes=5))
    lost = _orphan(conv, attempts=2, last_attempt_at=timezone.now() - timedelta(minutes=30))
    assert tasks.requeue_stale_outbound.run() == 1
    waiting.refresh_from_db()
    lost.refresh_from_db()
    assert waiting.status == "queued" and lost.status == "sent"


def test_a_leased_message_is_not_sent_twice(conv: Conversation, flaky: FlakyConnector) -> None:
    from hub.actions.outbound import do_claim_delivery

    msg = _orphan(conv)
    assert do_claim_delivery(msg.pk)  # an attempt is under way elsewhere
    assert tasks.deliver_message.run(msg.pk) == "skipped"
    assert tasks.requeue_stale_outbound.run() == 0
    assert flaky.sent == []
    Message.objects.filter(pk=msg.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert tasks.deliver_message.run(msg.pk) == "sent"  # the holder died: the lease expired
    assert len(flaky.sent) == 1


def test_inprocess_runner_retries_on_its_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    class Boom(Exception):
        pass

    from hub.celery import app

    @app.task(bind=True, autoretry_for=(Boom,), retry_backoff=False, max_retries=3, name="tests.flaky_task")
    def flaky_task(self: Any, x: int) -> None:
        calls.append(self.request.retries)
        if len(calls) < 3:
            raise Boom()

    own = InProcessRunner()
    own.submit(flaky_task, (1,), countdown=0)
    # retry_backoff=False: Celery's default 3 s delay would apply; shorten it for the test.
    monkeypatch.setattr("hub.taskqueue.get_exponential_backoff_interval", lambda **kw: 0)
    deadline = time.monotonic() + 15
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert calls == [0, 1, 2]


def test_the_connector_is_told_what_the_reply_answers(conv: Conversation, flaky: FlakyConnector) -> None:
    """The customer's latest message (its provider id, public or not, small metadata) and the newest thread
    keys: a connector replies in the right thread even in a long conversation."""
    account = f.account("sms")
    for i in range(40):
        do_ingest_message(account, f.inbound(f"message {i}", pid=f"SMin-{i}", metadata={"thread": f"t{i}"}))
    do_ingest_message(account, f.inbound("last", pid="SMlast", metadata={"thread": "t-last", "big": "x" * 5000}))
    do_send_reply(f.agent("ann"), conv, "got it")
    sent = flaky.sent[-1]
    assert sent.metadata["reply_to"]["provider_message_id"] == "SMlast"
    assert sent.metadata["reply_to"]["metadata"] == {"thread": "t-last"}  # the big value is left out
    assert sent.metadata["auto_reply"] is False
    # The first message (the root), then the newest ones, oldest first.
    assert sent.thread_keys[0] == "SMin1" and sent.thread_keys[-1] == "SMlast"
    assert "SMin-39" in sent.thread_keys and "SMin-5" not in sent.thread_keys
