"""/ws/chat/: the chat widget's socket, end to end through the ASGI application (docs/chat.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone

from connectors.webchat.settings import email_hash
from hub.actions.conversations import do_add_note, do_assign, do_set_status
from hub.actions.ingestion import do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.asgi import application
from hub.events import schema
from hub.events.publish import ALL_AGENTS_GROUP, conversation_group, publish
from hub.models import Change, ChannelAccount, Conversation, Identity, Message, SatisfactionRating
from tests import factories as f

pytestmark = [pytest.mark.django_db(transaction=True)]

ORIGIN = b"http://127.0.0.1:8000"  # HUB_PUBLIC_URL's origin: the default account allows it
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _memory_layer(settings: Any) -> Iterator[None]:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "hub.events.memory_layer.HubInMemoryChannelLayer"}}
    cache.clear()
    yield
    cache.clear()


def _account(**config: Any) -> ChannelAccount:
    account = f.account("webchat")
    if config:
        account.config = {**account.config, **config}
        account.save(update_fields=["config"])
    return account


account = database_sync_to_async(_account)


async def connect(key: str, token: str = "", last_seq: int | None = None, origin: bytes = ORIGIN,
                  ip: str = "10.0.0.1") -> tuple[WebsocketCommunicator, dict[str, Any]]:
    query = {"account": key, **({"token": token} if token else {}),
             **({"last_seq": str(last_seq)} if last_seq is not None else {})}
    comm = WebsocketCommunicator(application, f"/ws/chat/?{urlencode(query)}",
                                 headers=[(b"origin", origin), (b"host", b"hub.example:8000")])
    comm.scope["client"] = (ip, 40000)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm, await comm.receive_json_from(timeout=5)


async def until(comm: WebsocketCommunicator, kind: str, **match: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames up to the first of type `kind` (with these values); returns it and every frame before it."""
    seen: list[dict[str, Any]] = []
    while True:
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame, seen
        seen.append(frame)


async def drain(comm: WebsocketCommunicator, seconds: float = 0.3) -> list[dict[str, Any]]:
    frames = []
    while not await comm.receive_nothing(timeout=seconds):
        frames.append(await comm.receive_json_from(timeout=1))
    return frames


async def say(comm: WebsocketCommunicator, client_id: str, text: str, **extra: Any) -> dict[str, Any]:
    await comm.send_json_to({"type": "message", "client_id": client_id, "text": text, **extra})
    ack, _ = await until(comm, "ack", client_id=client_id)
    return ack


@database_sync_to_async
def conversation_of(message_id: int) -> Conversation:
    return Message.objects.select_related("conversation__customer").get(pk=message_id).conversation


@database_sync_to_async
def reply(agent: Any, conversation: Conversation, text: str) -> Message:
    return do_send_reply(agent, Conversation.objects.get(pk=conversation.pk), text)


make_agent = database_sync_to_async(f.agent)


async def test_a_new_visitor_gets_a_token_and_keeps_their_history_with_it() -> None:
    key = (await account()).address
    comm, hello = await connect(key)
    assert hello["type"] == "hello" and hello["token"] and hello["visitor_id"].startswith("wv-")
    assert hello["resumed"] is False
    await say(comm, "c1", "Hello, my bill is wrong")
    await comm.disconnect()

    comm, again = await connect(key, token=hello["token"])
    assert again["visitor_id"] == hello["visitor_id"] and again["token"] == hello["token"]
    frame, _ = await until(comm, "message")
    assert frame["message"]["text"] == "Hello, my bill is wrong"
    assert frame["message"]["client_id"] == "c1" and frame["message"]["author"] == "visitor"
    await comm.disconnect()


async def test_a_forged_or_foreign_token_is_refused() -> None:
    key = (await account()).address
    comm, hello = await connect(key)
    await comm.disconnect()
    forged = hello["token"][:-2] + ("aa" if not hello["token"].endswith("aa") else "bb")
    comm, error = await connect(key, token=forged)
    assert error == {"type": "error", "code": "bad_token", "reason": "this visitor token is not valid here"}
    assert (await comm.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}


async def test_a_site_the_account_does_not_allow_is_refused() -> None:
    key = (await account(allowed_origins=["https://shop.example"])).address
    comm, error = await connect(key, origin=b"https://evil.example")
    assert error["type"] == "error" and error["code"] == "origin_refused"
    assert (await comm.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4403}
    comm, hello = await connect(key, origin=b"https://shop.example")
    assert hello["type"] == "hello"
    await comm.disconnect()
    comm, error = await connect("no-such-key")
    assert error["code"] == "unknown_account"


async def test_a_message_sent_twice_with_one_client_id_is_stored_once() -> None:
    key = (await account()).address
    comm, hello = await connect(key)
    first = await say(comm, "same-id", "Where is my parcel?")
    await comm.disconnect()
    comm, _ = await connect(key, token=hello["token"], last_seq=0)
    second = await say(comm, "same-id", "Where is my parcel?")
    assert first["message_id"] == second["message_id"]
    count = await database_sync_to_async(
        lambda: Message.objects.filter(text="Where is my parcel?").count())()
    assert count == 1
    await comm.disconnect()


async def test_resume_sends_missed_replies_once_in_order() -> None:
    key = (await account()).address
    agent = await make_agent("ann")
    comm, hello = await connect(key)
    ack = await say(comm, "c1", "Hi")
    frames = await drain(comm)
    last_seq = max(fr["seq"] for fr in frames if "seq" in fr)
    await comm.disconnect()
    conv = await conversation_of(ack["message_id"])
    for text in ("one", "two", "three"):
        await reply(agent, conv, text)

    comm, again = await connect(key, token=hello["token"], last_seq=last_seq)
    assert again["resumed"] is True
    frames = await drain(comm)
    texts = [fr["message"]["text"] for fr in frames if fr["type"] == "message"]
    assert texts == ["one", "two", "three"]
    assert all(fr["message"]["author"] == "agent" and fr["message"]["author_name"] == "Ann"
               for fr in frames if fr["type"] == "message")
    seqs = [fr["seq"] for fr in frames if "seq" in fr]
    assert seqs == sorted(set(seqs)) and min(seqs) > last_seq
    # Live, after the resume: the next reply arrives once.
    await reply(agent, conv, "four")
    frame, _ = await until(comm, "message")
    assert frame["message"]["text"] == "four"
    assert not [fr for fr in await drain(comm) if fr["type"] == "message"]
    await comm.disconnect()


async def test_internal_notes_and_other_customers_never_reach_a_visitor() -> None:
    key = (await account()).address
    agent = await make_agent("bea")
    comm, _ = await connect(key)
    ack = await say(comm, "c1", "Hi")
    conv = await conversation_of(ack["message_id"])
    await database_sync_to_async(do_add_note)(agent, conv, "SECRET note: customer is grumpy")
    await database_sync_to_async(do_ingest_message)(
        await account(), f.inbound("someone else's chat", kind="webchat", address="wv-" + "1" * 24))
    await reply(agent, conv, "visible reply")
    frames = await drain(comm)
    text = repr(frames)
    assert "SECRET" not in text and "someone else" not in text
    assert [fr["message"]["text"] for fr in frames if fr["type"] == "message"][-1] == "visible reply"
    assert not any(k in text for k in ("failure_reason", "metadata", "customer_id", "assignee_id"))
    await comm.disconnect()


@pytest.fixture
def limiter_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits count in fixed one-minute windows (web/chat_limits.py): a test whose messages straddled a
    window's edge saw its counts start again. The limiter's clock stands still in the middle of a window."""
    import time as real_time

    import web.chat_limits

    standing = (real_time.time() // web.chat_limits.WINDOW_SECONDS + 0.5) * web.chat_limits.WINDOW_SECONDS

    class StandingClock:
        @staticmethod
        def time() -> float:
            return standing

    monkeypatch.setattr(web.chat_limits, "time", StandingClock)


async def test_rate_limit_and_size_cap_answer_error_frames(limiter_clock: None) -> None:
    key = (await account(visitor_messages_per_minute=2, max_message_chars=20)).address
    comm, hello = await connect(key)
    assert hello["max_message_chars"] == 20
    await say(comm, "a", "one")
    await say(comm, "b", "two")
    await comm.send_json_to({"type": "message", "client_id": "c", "text": "three"})
    error, _ = await until(comm, "error")
    assert error["code"] == "rate_limited" and error["client_id"] == "c" and error["retry_after"] >= 1
    # A resend of a stored message is acknowledged, not counted.
    await say(comm, "a", "one")
    await comm.send_json_to({"type": "message", "client_id": "d", "text": "x" * 21})
    error, _ = await until(comm, "error")
    assert error["code"] == "too_long" and error["limit"] == 20
    await comm.send_json_to({"type": "bogus"})
    error, _ = await until(comm, "error")
    assert error["code"] == "bad_request"
    await comm.send_json_to({"type": "message", "client_id": "bad id!", "text": "hi"})
    error, _ = await until(comm, "error")
    assert error["code"] == "refused" and "client_id" in error["reason"]
    await comm.disconnect()


async def test_ip_rate_limit_counts_every_visitor_of_an_address(limiter_clock: None) -> None:
    key = (await account(ip_messages_per_minute=1)).address
    first, _ = await connect(key, ip="10.9.9.9")
    await say(first, "a", "one")
    second, _ = await connect(key, ip="10.9.9.9")
    await second.send_json_to({"type": "message", "client_id": "b", "text": "two"})
    error, _ = await until(second, "error")
    assert error["code"] == "rate_limited"
    await first.disconnect()
    await second.disconnect()


async def test_resolution_asks_csat_and_the_rating_is_stored_and_published() -> None:
    key = (await account()).address
    agent = await make_agent("cleo")
    comm, _ = await connect(key)
    ack = await say(comm, "c1", "Help")
    conv = await conversation_of(ack["message_id"])
    await database_sync_to_async(do_assign)(agent, conv, agent)
    frame, _ = await until(comm, "agent")
    assert frame == {"type": "agent", "seq": frame["seq"], "conversation_id": conv.pk, "name": "Cleo"}
    await database_sync_to_async(do_set_status)(agent, conv, "resolved")
    frame, _ = await until(comm, "conversation", status="resolved")
    assert frame["conversation_id"] == conv.pk
    await comm.send_json_to({"type": "rate", "conversation_id": conv.pk, "score": 6})
    error, _ = await until(comm, "error")
    assert "score" in error["reason"]
    await comm.send_json_to({"type": "rate", "conversation_id": conv.pk, "score": 4, "comment": "quick, thanks"})
    rated, _ = await until(comm, "rated")
    assert rated["score"] == 4
    rating = await database_sync_to_async(SatisfactionRating.objects.get)(conversation_id=conv.pk)
    assert (rating.score, rating.comment, rating.round, rating.agent_id) == (4, "quick, thanks", 0, agent.pk)
    change = await database_sync_to_async(
        lambda: Change.objects.filter(type="conversation.rated", conversation_id=conv.pk).get())()
    assert schema.parse_event(change.payload).score == 4  # type: ignore[union-attr]
    # Someone else's conversation cannot be rated through this socket.
    await comm.send_json_to({"type": "rate", "conversation_id": conv.pk + 1000, "score": 1})
    error, _ = await until(comm, "error")
    assert error["code"] == "refused"
    await comm.disconnect()


async def test_leaving_a_message_with_an_address_becomes_an_email_conversation() -> None:
    key = (await account()).address
    comm, hello = await connect(key)
    await comm.send_json_to({"type": "leave", "client_id": "l1", "email": "Mei@Example.com",
                             "text": "Please call me back about order 7731"})
    left, _ = await until(comm, "left")
    assert left == {"type": "left", "client_id": "l1", "channel": "email"}
    message = await database_sync_to_async(
        lambda: Message.objects.select_related("conversation", "author_identity").get(text__contains="order 7731"))()
    assert message.conversation.channel == "email"
    assert message.author_identity is not None and message.author_identity.address == "mei@example.com"
    assert message.metadata["source"] == "webchat_form" and message.metadata["webchat_visitor"] == hello["visitor_id"]
    # Without an address it waits as a chat.
    await comm.send_json_to({"type": "leave", "client_id": "l2", "text": "No email, just call"})
    left, _ = await until(comm, "left")
    assert left["channel"] == "webchat"
    await comm.disconnect()


async def test_typing_is_relayed_both_ways() -> None:
    key = (await account()).address
    layer = get_channel_layer()
    comm, _ = await connect(key)
    ack = await say(comm, "c1", "Hi")
    conv = await conversation_of(ack["message_id"])
    listener = await layer.new_channel()
    await layer.group_add(ALL_AGENTS_GROUP, listener)  # a conversation with no team: every agent's
    await comm.send_json_to({"type": "typing", "typing": True})
    event = await asyncio.wait_for(layer.receive(listener), 5)
    assert len(event.pop("nonce")) == 16
    # A visitor who gave no name is shown by a short label, as their customer is named.
    assert event == {"type": "hub.typing", "conversation_id": conv.pk, "who": "customer",
                     "name": conv.customer.display_name, "typing": True}
    assert conv.customer.display_name.startswith("Visitor ")
    await layer.group_send(conversation_group(conv.pk), {"type": "chat.typing", "name": "Ann", "typing": True})
    frame, _ = await until(comm, "typing")
    assert frame == {"type": "typing", "name": "Ann", "typing": True}
    await comm.disconnect()


async def test_read_receipts_both_ways() -> None:
    key = (await account()).address
    agent = await make_agent("dora")
    comm, _ = await connect(key)
    ack = await say(comm, "c1", "Hi")
    conv = await conversation_of(ack["message_id"])
    sent = await reply(agent, conv, "Hello!")
    await until(comm, "message")
    await comm.send_json_to({"type": "receipt", "message_id": sent.pk, "status": "read"})
    status, _ = await until(comm, "status", status="read")
    assert status["message_id"] == sent.pk
    assert (await database_sync_to_async(Message.objects.get)(pk=sent.pk)).status == "read"

    def agent_reads() -> None:
        with transaction.atomic():
            publish(schema.ConversationRead(conversation_id=conv.pk, user_id=agent.pk, last_read_at=timezone.now()),
                    [agent.pk], conversation_id=conv.pk)

    await database_sync_to_async(agent_reads)()
    seen, _ = await until(comm, "seen")
    assert seen["conversation_id"] == conv.pk and seen["up_to"]
    await comm.send_json_to({"type": "receipt", "message_id": ack["message_id"], "status": "read"})
    error, _ = await until(comm, "error")  # the visitor's own message is not theirs to mark read
    assert error["code"] == "refused"
    await comm.disconnect()


async def test_queue_state_offers_leave_a_message_when_nobody_is_available() -> None:
    key = (await account()).address
    comm, _ = await connect(key)
    queue, _ = await until(comm, "queue")
    assert queue["state"] == "idle" and queue["offline"] is True
    await make_agent("eve", presence="available")
    await comm.send_json_to({"type": "queue"})
    queue, _ = await until(comm, "queue")
    assert queue["offline"] is False
    await comm.disconnect()


async def test_identification_links_only_a_verified_email() -> None:
    acc = await account()
    secret = acc.config["identity_secret"]

    def known_customer() -> int:
        result = do_ingest_message(f.account("email"), f.inbound("old mail", kind="email", address="li@example.com"))
        return result.message.conversation.customer_id

    owner = await database_sync_to_async(known_customer)()
    comm, hello = await connect(acc.address)
    await comm.send_json_to({"type": "identify", "name": "Li", "email": "li@example.com", "email_hash": "0" * 64})
    frame, _ = await until(comm, "identified")
    assert frame["email_verified"] is False
    visitor = await database_sync_to_async(Identity.objects.get)(kind="webchat", address=hello["visitor_id"])
    assert visitor.customer_id != owner and visitor.attributes["email"] == "li@example.com"
    await comm.send_json_to({"type": "identify", "email": "li@example.com",
                             "email_hash": email_hash(secret, "li@example.com")})
    frame, _ = await until(comm, "identified")
    assert frame["email_verified"] is True
    visitor = await database_sync_to_async(Identity.objects.get)(pk=visitor.pk)
    assert visitor.customer_id == owner
    await comm.disconnect()


def test_uploads_are_checked_then_attached_and_served_to_the_visitor_only(settings: Any) -> None:
    acc = _account(max_attachment_bytes=1000)
    from connectors.webchat import tokens
    from hub.actions.webchat import do_visitor_message
    from hub.connector_port import account_info
    from web.chat_state import project, widget

    info = account_info(acc)
    visitor = tokens.new_visitor_id()
    token = tokens.issue_visitor_token(info.signing_key, acc.pk, visitor)
    client = Client()
    url = f"/chat/upload/?account={acc.address}"

    def post(data: bytes, origin: str = "http://127.0.0.1:8000", name: str = "photo.png") -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        return client.post(url, {"token": token, "file": SimpleUploadedFile(name, data, "image/png")},
                           HTTP_ORIGIN=origin)

    assert post(PNG, origin="https://evil.example").status_code == 403
    assert post(b"<svg onload=alert(1)>").status_code == 415
    assert post(PNG + b"\x00" * 2000).status_code == 413
    response = post(PNG, name="<img src=x>.html")
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    body = response.json()
    assert body["content_type"] == "image/png" and body["name"] == "img srcx.png"
    assert tokens.read_upload(info.signing_key, visitor, body["upload"]) is not None
    assert tokens.read_upload(info.signing_key, tokens.new_visitor_id(), body["upload"]) is None  # not theirs

    ref = tokens.read_upload(info.signing_key, visitor, body["upload"])
    assert ref is not None
    from django.core.files.storage import default_storage

    from connectors.base import InboundAttachment
    with default_storage.open(ref.path, "rb") as fh:
        data = fh.read()
    do_visitor_message(acc, visitor, "f1", "", [InboundAttachment(ref.name, ref.content_type, data)])
    w = widget(acc.address)
    assert w is not None
    conv_ids = list(Conversation.objects.filter(channel_account=acc).values_list("pk", flat=True))
    frames, _ = project(w, visitor, conv_ids, 0)
    (message,) = [fr["message"] for fr in frames if fr["type"] == "message"]
    (attachment,) = message["attachments"]
    assert attachment["url"].startswith(f"/chat/attachments/{acc.pk}/")
    got = client.get(attachment["url"])
    assert got.status_code == 200 and b"".join(got.streaming_content) == data  # type: ignore[attr-defined]
    assert got["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get(attachment["url"].split("?")[0] + "?sig=forged").status_code == 404


def test_uploads_never_sent_are_pruned_once_their_reference_has_expired() -> None:
    import datetime as dt

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from connectors.webchat import tokens
    from web.chat_views import UPLOAD_DIR, prune_uploads

    assert prune_uploads() == 0  # no upload folder yet
    path = default_storage.save(f"{UPLOAD_DIR}/left-behind", ContentFile(PNG))
    assert prune_uploads() == 0  # its reference may still be sent with a message
    later = timezone.now() + dt.timedelta(seconds=tokens.UPLOAD_MAX_AGE_SECONDS + 2 * 3600)
    assert prune_uploads(later) == 1
    assert not default_storage.exists(path)


def test_widget_script_and_demo_page() -> None:
    key = f.account("webchat").address
    client = Client()
    script = client.get("/widget.js")
    assert script.status_code == 200 and script["Content-Type"].startswith("text/javascript")
    assert b"attachShadow" in script.content
    page = client.get("/demo/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'<script src="http://testserver/widget.js" data-account="{key}" async></script>' in html
