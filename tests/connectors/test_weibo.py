"""The Weibo connector beyond the shared contract: the echostr handshake, the replay window and nonce cache,
public comments and mentions threaded per post and per commenter, replies through the right API, rate
limits, follows, media, and every kind of bad input."""

# Chinese text keeps its full-width punctuation: that is what these tests are about.

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from connectors import registry
from connectors.weibo import signature
from connectors.weibo.connector import WeiboConnector
from hub.actions.outbound import do_send_reply
from hub.connector_port import account_info
from hub.models import Attachment, ChannelAccount, Conversation, Identity, Message, WebhookDelivery
from hub.taskqueue import runner
from tests import factories as f
from tests.connectors.contract import WebhookCall, call, inbound_count
from tests.connectors.provider import Answer
from tests.connectors.test_weibo_support import (
    ACCOUNT_UID,
    CUSTOMER_UID,
    POST_ID,
    SECRET,
    TOKEN,
    WeiboProvider,
    comment_payload,
    dm_payload,
    fixture,
    handshake,
    push,
    serve_platform,
    weibo_account,
)

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_UID = "5612309874"


@pytest.fixture(scope="module")
def platform() -> Iterator[WeiboProvider]:
    yield from serve_platform()


@pytest.fixture
def weibo(platform: WeiboProvider) -> WeiboProvider:
    platform.reset()
    return platform


@pytest.fixture
def account(weibo: WeiboProvider) -> ChannelAccount:
    return weibo_account(weibo.url)


def ok(client: Client, request: WebhookCall) -> None:
    response = call(client, request)
    assert response.status_code == 200, response.content
    assert response.content == b""  # no passive reply: the platform neither shows nor retries anything


def reply(conversation: Conversation, text: str) -> Message:
    message = do_send_reply(f.agent(), conversation, text)
    message.refresh_from_db()
    return message


# --- the echostr handshake ---------------------------------------------------------------------------------


def test_the_documented_handshake_is_answered_with_the_echostr(client: Client, weibo: WeiboProvider,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The platform's own example: appsecret xyz123xyz, timestamp 1397022061823, nonce 57155157.
    ChannelAccount.objects.create(channel="social", name="Default", address=ACCOUNT_UID, is_default=True)
    monkeypatch.setenv("HUB_WEIBO_APP_SECRET", "xyz123xyz")
    monkeypatch.setenv("HUB_WEIBO_API_BASE", weibo.url)
    response = client.get("/webhooks/weibo?nonce=57155157&timestamp=1397022061823&echostr=dnPdpTZz85"
                          "&signature=90e4c22c90a58f26526c2dd5b6c56c8822edeaa1")
    assert response.status_code == 200
    assert response.content == b"dnPdpTZz85"
    assert response["Content-Type"].startswith("text/plain")


def test_a_forged_handshake_is_refused(client: Client, account: ChannelAccount) -> None:
    forged = call(client, handshake("dnPdpTZz85", secret="guessed", path=f"/webhooks/weibo/{ACCOUNT_UID}"))
    assert forged.status_code == 403
    assert b"dnPdpTZz85" not in forged.content
    unsigned = client.get(f"/webhooks/weibo/{ACCOUNT_UID}?echostr=dnPdpTZz85")
    assert unsigned.status_code == 403


def test_a_handshake_for_an_extra_account_uses_its_own_url_and_secret(client: Client,
                                                                       account: ChannelAccount) -> None:
    response = call(client, handshake("回声-42", path=f"/webhooks/weibo/{ACCOUNT_UID}"))
    assert response.status_code == 200
    assert response.content.decode() == "回声-42"
    # Without an echostr there is nothing to answer.
    response = call(client, WebhookCall(handshake("x", path=f"/webhooks/weibo/{ACCOUNT_UID}").path
                                        .replace("&echostr=x", ""), b"", method="GET"))
    assert response.status_code == 400


# --- signatures, the replay window and the nonce cache ---------------------------------------------------


def test_a_push_without_a_signature_is_refused(client: Client, account: ChannelAccount) -> None:
    request = push(fixture("dm_text.json"), query={"timestamp": str(int(time.time())), "nonce": "1"})
    response = call(client, request)
    assert response.status_code == 403
    assert b"missing signature" in response.content
    assert inbound_count() == 0


def test_a_push_for_an_account_without_a_secret_is_refused(client: Client, weibo: WeiboProvider) -> None:
    weibo_account(weibo.url, app_secret="")
    response = call(client, push(fixture("dm_text.json")))
    assert response.status_code == 403
    assert b"no app secret" in response.content


@pytest.mark.parametrize(("skew", "accepted"), [(0, True), (300, True), (-300, True), (301, False),
                                                (-301, False), (86400, False)])
def test_the_replay_window_is_300_seconds_either_way(client: Client, account: ChannelAccount,
                                                     monkeypatch: pytest.MonkeyPatch, skew: int,
                                                     accepted: bool) -> None:
    now = 1_700_000_000
    monkeypatch.setattr(signature, "current_time", lambda: float(now))
    response = call(client, push(fixture("dm_text.json"), timestamp=now + skew))
    if accepted:
        assert response.status_code == 200, response.content
        assert inbound_count() == 1
    else:
        assert response.status_code == 403
        assert b"replay window" in response.content
        assert inbound_count() == 0


def test_millisecond_timestamps_are_read_as_the_platform_sends_them(client: Client, account: ChannelAccount,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_700_000_000
    monkeypatch.setattr(signature, "current_time", lambda: float(now))
    assert call(client, push(fixture("dm_text.json"), timestamp=(now - 299) * 1000)).status_code == 200
    response = call(client, push(fixture("follow.json"), timestamp=(now + 301) * 1000))
    assert response.status_code == 403 and b"replay window" in response.content


@pytest.mark.parametrize("timestamp", ["soon", "１７００000000", "9" * 40, "-5"])
def test_an_unreadable_timestamp_is_refused(client: Client, account: ChannelAccount, timestamp: str) -> None:
    response = call(client, push(fixture("dm_text.json"), timestamp=timestamp))
    assert response.status_code == 403
    assert inbound_count() == 0


def test_a_replayed_nonce_with_another_body_is_refused_and_an_identical_retry_is_acknowledged(
        client: Client, account: ChannelAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    ts, nonce = str(int(time.time())), "57155157"
    first = push(fixture("dm_text.json"), timestamp=ts, nonce=nonce)
    ok(client, first)
    assert WebhookDelivery.objects.get(connector="social", key=f"{ts}:{nonce}").processed

    forged = push(dm_payload("请把退款打到这个账户：6222 0000 1111"), timestamp=ts, nonce=nonce)
    response = call(client, forged)
    assert response.status_code == 403
    assert b"already used" in response.content

    def parse_again(*args: Any) -> None:
        raise AssertionError("an identical retry must not be processed again")

    monkeypatch.setattr(WeiboConnector, "parse", parse_again)
    ok(client, first)
    assert inbound_count() == 1
    assert Message.objects.get().text.startswith("你好，我上周买的耳机")


def test_a_platform_retry_with_a_fresh_nonce_stores_the_message_once(client: Client,
                                                                     account: ChannelAccount) -> None:
    ok(client, push(fixture("dm_text.json")))
    ok(client, push(fixture("dm_text.json")))
    assert inbound_count() == 1


# --- private messages -------------------------------------------------------------------------------------


def test_a_private_message_keeps_its_chinese_text_and_threads_per_user(client: Client,
                                                                      account: ChannelAccount) -> None:
    ok(client, push(dm_payload("第一条：耳机没声音", sender_screen_name="小明同学")))
    ok(client, push(dm_payload("第二条：换了线也不行", created_at="Mon Jul 16 18:11:00 +0800 2012")))
    first, second = Message.objects.order_by("id")
    assert (first.text, second.text) == ("第一条：耳机没声音", "第二条：换了线也不行")
    assert first.conversation_id == second.conversation_id
    assert not first.is_public
    assert first.metadata["reply_visibility"] == "private"
    assert first.metadata["provider_sent_at"] == "2012-07-16T18:09:20+08:00"
    identity = Identity.objects.get(kind="social", address=CUSTOMER_UID)
    assert identity.display_name == "小明同学"
    # No message id in the documented push: a stable derivation from sender, time and content.
    assert (first.provider_message_id or "").startswith(f"wbdm-{CUSTOMER_UID}-1342433360-")
    assert first.provider_message_id != second.provider_message_id


def test_a_push_that_carries_a_message_id_uses_it(client: Client, account: ChannelAccount) -> None:
    ok(client, push(dm_payload("有消息id的私信", id=1211260020031346)))
    assert Message.objects.get().provider_message_id == "1211260020031346"


def test_an_image_message_is_fetched_with_the_access_token(client: Client, account: ChannelAccount,
                                                           weibo: WeiboProvider) -> None:
    ok(client, push(fixture("dm_image.json")))
    message = Message.objects.get()
    attachment = Attachment.objects.get(message=message)
    assert (attachment.name, attachment.content_type) == ("weibo-image-821804469.jpg", "image/jpeg")
    assert attachment.file.read() == b"\xff\xd8\xff\xe0fake-jpeg"
    fetch = next(r for r in weibo.server.requests if r.path == "/2/mss/msget")
    assert fetch.query == {"fid": ["821804469"], "access_token": [TOKEN]}
    assert "attachments_not_stored" not in message.metadata


def test_an_image_the_platform_no_longer_has_is_listed_as_not_fetched(client: Client, account: ChannelAccount,
                                                                      weibo: WeiboProvider) -> None:
    weibo.media.clear()
    ok(client, push(fixture("dm_image.json")))
    message = Message.objects.get()
    assert not Attachment.objects.exists()
    (entry,) = message.metadata["attachments_not_stored"]
    assert entry["reason"] == "fetch_failed" and "404" in entry["detail"]


# --- public comments and mentions -----------------------------------------------------------------------


def test_a_comment_is_public_and_says_where_to_reply(client: Client, account: ChannelAccount) -> None:
    ok(client, push(fixture("comment.json")))
    message = Message.objects.get()
    assert message.is_public
    assert message.provider_message_id == "3515170380984186"
    assert message.text == "请问这款耳机什么时候补货？等了一个月了"
    assert message.metadata["post_id"] == POST_ID
    assert message.metadata["comment_id"] == "3515170380984186"
    assert message.metadata["reply_visibility"] == "public"
    assert message.metadata["post_excerpt"].startswith("新品降噪耳机")
    assert message.author_identity is not None and message.author_identity.display_name == "小明同学"


def test_comments_thread_per_post_and_per_commenter(client: Client, account: ChannelAccount) -> None:
    ok(client, push(comment_payload("3515170380984101", sender=CUSTOMER_UID, text="第一个问题")))
    ok(client, push(comment_payload("3515170380984102", sender=OTHER_UID, name="路人甲", text="我也想知道")))
    ok(client, push(comment_payload("3515170380984103", sender=CUSTOMER_UID, text="追问一下")))
    ok(client, push(comment_payload("3515170380984104", sender=OTHER_UID, name="路人甲", text="顶")))
    by_id = {m.provider_message_id: m for m in Message.objects.all()}
    mine = {by_id["3515170380984101"].conversation_id, by_id["3515170380984103"].conversation_id}
    theirs = {by_id["3515170380984102"].conversation_id, by_id["3515170380984104"].conversation_id}
    assert len(mine) == 1 and len(theirs) == 1 and mine != theirs
    assert all(m.is_public for m in by_id.values())


def test_the_accounts_own_comments_pushed_back_are_not_customer_messages(client: Client,
                                                                         account: ChannelAccount) -> None:
    ok(client, push(comment_payload("3515170380984199", sender=ACCOUNT_UID, name="客服小微", text="已回复")))
    assert inbound_count() == 0


def test_a_deleted_comment_event_is_acknowledged_and_ignored(client: Client, account: ChannelAccount) -> None:
    payload = comment_payload()
    payload["text"]["event"] = "del"
    ok(client, push(payload))
    assert inbound_count() == 0


def test_mentions_are_public_messages(client: Client, account: ChannelAccount) -> None:
    ok(client, push(fixture("mention_status.json")))
    ok(client, push(fixture("mention_comment.json")))
    status, comment = Message.objects.order_by("id")
    assert status.is_public and comment.is_public
    assert status.metadata["post_id"] == "3700057402482222"
    assert comment.metadata["comment_id"] == "3700061234567890"
    assert status.text == "@客服小微 快递三天没动了，到底什么时候能到？"


# --- replies -------------------------------------------------------------------------------------------------


def test_a_reply_to_a_comment_goes_to_the_comment_reply_api(client: Client, account: ChannelAccount,
                                                            weibo: WeiboProvider) -> None:
    ok(client, push(fixture("comment.json")))
    message = reply(Conversation.objects.get(), "您好，下周一补货，到货后第一时间通知您。")
    assert message.status == Message.Status.SENT, message.failure_reason
    (request,) = weibo.sent()
    assert request.path == "/2/comments/reply.json"
    form = request.form()
    assert form == {"access_token": [TOKEN], "cid": ["3515170380984186"], "id": [POST_ID],
                    "comment": ["您好，下周一补货，到货后第一时间通知您。"]}
    assert message.provider_message_id == "4100000000000001"  # the new comment's id


def test_a_customer_answering_the_agents_public_reply_stays_in_the_conversation(
        client: Client, account: ChannelAccount, weibo: WeiboProvider) -> None:
    ok(client, push(fixture("comment.json")))
    conversation = Conversation.objects.get()
    sent = reply(conversation, "下周一补货")
    ok(client, push(comment_payload("3515170380984555", text="好的谢谢", reply_to=sent.provider_message_id)))
    assert Message.objects.get(provider_message_id="3515170380984555").conversation_id == conversation.pk
    reply(conversation, "不客气")
    assert weibo.sent()[-1].form()["cid"] == ["3515170380984555"]


def test_a_reply_to_a_private_message_goes_to_the_private_message_api(client: Client, account: ChannelAccount,
                                                                      weibo: WeiboProvider) -> None:
    ok(client, push(fixture("dm_text.json")))
    message = reply(Conversation.objects.get(), "您好，已为您加急处理。")
    assert message.status == Message.Status.SENT, message.failure_reason
    (request,) = weibo.sent()
    assert request.path == "/2/messages/reply.json"
    form = request.form()
    assert form["receiver_id"] == [CUSTOMER_UID] and form["type"] == ["text"]
    assert json.loads(form["data"][0]) == {"text": "您好，已为您加急处理。"}
    assert message.provider_message_id == f"wbout-{message.pk}"


def test_the_latest_customer_message_decides_public_or_private(client: Client, account: ChannelAccount,
                                                               weibo: WeiboProvider) -> None:
    ok(client, push(fixture("comment.json")))
    conversation = Conversation.objects.get()
    reply(conversation, "公开回复")
    ok(client, push(dm_payload("私信说：我的手机号是 138 0000 0000")))
    assert Message.objects.filter(direction="in").values("conversation").distinct().count() == 1
    reply(conversation, "收到，私信回复您")
    ok(client, push(comment_payload("3515170380984777", text="又在评论区问一句")))
    reply(conversation, "再次公开回复")
    assert [r.path for r in weibo.sent()] == ["/2/comments/reply.json", "/2/messages/reply.json",
                                              "/2/comments/reply.json"]
    assert weibo.sent()[-1].form()["cid"] == ["3515170380984777"]


def test_a_reply_to_a_mentioning_post_comments_on_that_post(client: Client, account: ChannelAccount,
                                                            weibo: WeiboProvider) -> None:
    ok(client, push(fixture("mention_status.json")))
    message = reply(Conversation.objects.get(), "您好，已联系快递加急。")
    assert message.status == Message.Status.SENT, message.failure_reason
    (request,) = weibo.sent()
    assert request.path == "/2/comments/create.json"
    assert request.form()["id"] == ["3700057402482222"]


def test_a_reply_to_a_mentioning_comment_looks_up_its_post(client: Client, account: ChannelAccount,
                                                           weibo: WeiboProvider) -> None:
    weibo.comments["3700061234567890"] = "3700050000000001"
    ok(client, push(fixture("mention_comment.json")))
    message = reply(Conversation.objects.get(), "会补货的，敬请关注。")
    assert message.status == Message.Status.SENT, message.failure_reason
    (request,) = weibo.sent()
    assert request.path == "/2/comments/reply.json"
    assert request.form()["cid"] == ["3700061234567890"] and request.form()["id"] == ["3700050000000001"]


def test_a_reply_to_a_comment_that_is_gone_fails_visibly(client: Client, account: ChannelAccount,
                                                         weibo: WeiboProvider) -> None:
    ok(client, push(fixture("mention_comment.json")))
    message = reply(Conversation.objects.get(), "会补货的")
    assert message.status == Message.Status.FAILED
    assert "deleted" in message.failure_reason
    assert weibo.sent() == []


def test_a_rate_limited_reply_is_retried_later_then_sent(client: Client, account: ChannelAccount,
                                                         weibo: WeiboProvider) -> None:
    ok(client, push(fixture("comment.json")))
    weibo.server.fail_next(Answer(403, {"request": "/2/comments/reply.json", "error_code": 10024,
                                        "error": "User requests for (comments/reply) out of rate limit!"}))
    message = reply(Conversation.objects.get(), "稍等，马上为您查询")
    assert message.status == Message.Status.QUEUED
    assert "rate limit" in message.failure_reason and "10024" in message.failure_reason
    assert runner.drain() >= 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT, message.failure_reason
    assert [r.path for r in weibo.sent()] == ["/2/comments/reply.json"] * 2


def test_a_refused_reply_shows_the_platforms_message_and_code(client: Client, account: ChannelAccount,
                                                              weibo: WeiboProvider) -> None:
    ok(client, push(fixture("comment.json")))
    weibo.server.fail_next(Answer(400, {"request": "/2/comments/reply.json", "error_code": "20206",
                                        "error": "Only the author's followers can comment!"}))
    message = reply(Conversation.objects.get(), "您好")
    assert message.status == Message.Status.FAILED
    assert "Only the author's followers can comment!" in message.failure_reason
    assert "20206" in message.failure_reason


def test_a_public_reply_over_140_characters_is_refused_before_calling_the_platform(
        client: Client, account: ChannelAccount, weibo: WeiboProvider) -> None:
    ok(client, push(fixture("comment.json")))
    message = reply(Conversation.objects.get(), "补" * 141)
    assert message.status == Message.Status.FAILED
    assert "public" in message.failure_reason and "140" in message.failure_reason
    assert weibo.sent() == []


# --- follows -----------------------------------------------------------------------------------------------------


def test_follow_and_unfollow_are_kept_on_the_identity(client: Client, account: ChannelAccount) -> None:
    ok(client, push(fixture("dm_text.json")))
    ok(client, push(fixture("follow.json")))
    identity = Identity.objects.get(kind="social", address=CUSTOMER_UID)
    assert identity.attributes["following"] is True
    ok(client, push(fixture("unfollow.json")))
    identity.refresh_from_db()
    assert identity.attributes["following"] is False
    assert inbound_count() == 1


# --- accounts ------------------------------------------------------------------------------------------------


def test_the_push_goes_to_the_account_its_receiver_id_names(client: Client, account: ChannelAccount,
                                                             weibo: WeiboProvider) -> None:
    other = ChannelAccount.objects.create(channel="social", name="二号店", address=OTHER_UID,
                                          config={"app_secret": "second-secret", "access_token": "t2",
                                                  "api_base": weibo.url})
    payload = {**fixture("dm_text.json"), "receiver_id": int(OTHER_UID)}
    assert call(client, push(payload)).status_code == 403  # signed with the first account's secret
    ok(client, push(payload, secret="second-secret"))
    assert Message.objects.get().channel_account_id == other.pk
    nobody = {**fixture("dm_text.json"), "receiver_id": 1111111111}
    assert call(client, push(nobody)).status_code == 404


def test_a_push_on_one_accounts_url_for_another_account_is_refused(client: Client, account: ChannelAccount) -> None:
    payload = {**fixture("dm_text.json"), "receiver_id": int(OTHER_UID)}
    response = call(client, push(payload, path=f"/webhooks/weibo/{ACCOUNT_UID}"))
    assert response.status_code == 400
    assert OTHER_UID.encode() in response.content
    assert inbound_count() == 0


def test_the_default_account_takes_its_settings_from_the_environment(weibo: WeiboProvider,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    stored = ChannelAccount.objects.create(channel="social", name="Default", address=ACCOUNT_UID, is_default=True,
                                           config={"app_secret": "stale"})
    for name, value in {"HUB_WEIBO_APP_KEY": "211160679", "HUB_WEIBO_APP_SECRET": SECRET,
                        "HUB_WEIBO_ACCESS_TOKEN": TOKEN, "HUB_WEIBO_API_BASE": weibo.url}.items():
        monkeypatch.setenv(name, value)
    info = account_info(stored)
    assert info.config == {"app_key": "211160679", "app_secret": SECRET, "access_token": TOKEN,
                           "api_base": weibo.url}
    assert WeiboConnector().is_configured(info)
    assert not WeiboConnector().is_configured(account_info(
        ChannelAccount.objects.create(channel="social", name="No token", address="42")))
    assert isinstance(registry.get("social"), WeiboConnector)


# --- bad input: never a 500 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", b"not JSON"),
    (b"[1, 2]", b"not a JSON object"),
    ('{"type": "text", "text": "你好"}'.encode("gbk"), b"not UTF-8"),
    (b"\xff\xfe{\x00}\x00", b"not UTF-8"),
    (json.dumps({**fixture("dm_text.json"), "receiver_id": [1]}).encode(), b"receiver_id"),
    (json.dumps({**fixture("dm_text.json"), "receiver_id": 10**40}).encode(), b"receiver_id"),
    (json.dumps({**fixture("dm_text.json"), "sender_id": "abc"}).encode(), b"sender_id"),
    (json.dumps({**fixture("dm_text.json"), "sender_id": None}).encode(), b"sender_id"),
    (json.dumps({**fixture("dm_text.json"), "sender_id": True}).encode(), b"sender_id"),
    (json.dumps({**fixture("dm_text.json"), "text": {"nested": 1}}).encode(), b"text"),
    (json.dumps({**fixture("dm_text.json"), "data": [1, 2]}).encode(), b"data"),
    (json.dumps({**fixture("dm_image.json"), "data": {"vfid": 1}}).encode(), b"tovfid"),
    (json.dumps({**fixture("mention_status.json"), "data": {"subtype": "status"}}).encode(), b"key"),
    (json.dumps({**fixture("dm_text.json"), "type": None}).encode(), b"no type"),
    (b'{"receiver_id": 1902538057, "sender_id": ' + b"9" * 5000 + b"}", b"malformed"),
    (json.dumps({"id": 1, "text": {"type": "comment", "comment": "oops"}}).encode(), b"malformed"),
])
def test_unreadable_pushes_get_400_with_a_reason(client: Client, account: ChannelAccount, body: bytes,
                                                 reason: bytes) -> None:
    response = call(client, push(body, path=f"/webhooks/weibo/{ACCOUNT_UID}"))
    assert response.status_code == 400, response.content
    assert reason in response.content
    assert inbound_count() == 0


def test_a_non_utf8_body_on_the_shared_url_gets_400(client: Client, account: ChannelAccount) -> None:
    response = call(client, push('{"type": "text", "text": "你好"}'.encode("gb18030")))
    assert response.status_code == 400
    assert inbound_count() == 0


@pytest.mark.parametrize("payload", [
    {**fixture("dm_text.json"), "type": "hologram"},
    {**fixture("follow.json"), "data": {"subtype": "subscribe"}},
    {**fixture("mention_status.json"), "data": {"subtype": "repost", "key": "1"}},
    {"id": 1, "text": {"type": "status", "event": "add", "status": {"id": 1}}},
])
def test_pushes_the_hub_has_no_use_for_are_acknowledged(client: Client, account: ChannelAccount,
                                                        payload: dict[str, Any]) -> None:
    ok(client, push(payload, path=f"/webhooks/weibo/{ACCOUNT_UID}"))
    assert inbound_count() == 0


def test_other_methods_are_refused(client: Client, account: ChannelAccount) -> None:
    request = push(fixture("dm_text.json"))
    response = client.put(request.path, data=request.body, content_type="application/json")
    assert response.status_code == 403

