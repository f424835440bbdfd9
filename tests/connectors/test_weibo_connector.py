"""The Weibo connector on its own (no database): signing, reading the documented payloads, choosing the
reply API, the platform's errors, media downloads."""

# Chinese text keeps its full-width punctuation: that is what these tests are about.

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import (
    AccountInfo,
    IdentityEvent,
    InboundMessage,
    InboundRequest,
    OutboundAttachment,
    OutboundMessage,
    PermanentFailure,
    TemporaryFailure,
)
from connectors.weibo import signature
from connectors.weibo.api import Endpoints
from connectors.weibo.connector import WeiboConnector, weibo_length
from connectors.weibo.events import parse_created_at
from tests.connectors.provider import Answer
from tests.connectors.test_weibo_support import (
    ACCOUNT_UID,
    CUSTOMER_UID,
    POST_ID,
    RATE_LIMITED,
    SECRET,
    TOKEN,
    WeiboProvider,
    fixture,
    platform_signature,
    serve_platform,
)


@pytest.fixture(scope="module")
def platform() -> Iterator[WeiboProvider]:
    yield from serve_platform()


@pytest.fixture
def weibo(platform: WeiboProvider) -> WeiboProvider:
    platform.reset()
    return platform


def info_for(weibo: WeiboProvider | None = None, **config: Any) -> AccountInfo:
    base = weibo.url if weibo else "http://127.0.0.1:9"
    return AccountInfo(id=1, channel="social", address=ACCOUNT_UID,
                       config={"app_secret": SECRET, "access_token": TOKEN, "api_base": base, **config})


def outbound(keys: list[str], text: str = "您好", in_reply_to: dict[str, Any] | None = None) -> OutboundMessage:
    """`in_reply_to`: the latest inbound message's metadata, passed the way hub/delivery.py passes it."""
    context = {"reply_to": {"provider_message_id": "x", "is_public": False, "metadata": in_reply_to}} \
        if in_reply_to is not None else {}
    return OutboundMessage(message_id=7, conversation_id=3, to=CUSTOMER_UID, text=text, thread_keys=keys,
                           metadata=context)


def parsed(name: str, **changes: Any) -> list[Any]:
    body = json.dumps({**fixture(name), **changes}, ensure_ascii=False).encode()
    request = InboundRequest("POST", "https://hub.example.com/webhooks/weibo", "/webhooks/weibo", {}, body)
    return list(WeiboConnector().parse(info_for(api_base="https://api.weibo.com"), request))


# --- signing ------------------------------------------------------------------------------------------------


def test_the_signature_is_the_documented_sha1_of_the_sorted_parts() -> None:
    assert signature.sign("xyz123xyz", "1397022061823", "57155157") == "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    assert signature.sign(SECRET, "1", "2") == platform_signature(SECRET, "1", "2")


def test_a_delivery_key_names_the_signed_timestamp_and_nonce() -> None:
    request = InboundRequest("POST", "", "/webhooks/weibo", {}, b"{}",
                             query={"signature": "x", "timestamp": "1397022061823", "nonce": "57155157"})
    key = WeiboConnector().delivery_key(info_for(), request)
    assert key is not None and (key.key, key.replay_protected) == ("1397022061823:57155157", True)
    assert WeiboConnector().delivery_key(info_for(), InboundRequest("GET", "", "/webhooks/weibo", {}, b"")) is None


# --- reading the documented payloads ---------------------------------------------------------------------


def test_a_private_message() -> None:
    (message,) = parsed("dm_text.json")
    assert isinstance(message, InboundMessage)
    assert (message.sender.kind, message.sender.address) == ("social", CUSTOMER_UID)
    assert message.text.startswith("你好，我上周买的耳机还没发货")
    assert not message.is_public
    assert list(message.thread_keys) == [f"dm:{CUSTOMER_UID}", f"reply:dm:{message.provider_message_id}"]
    assert message.sent_at is not None and message.sent_at.isoformat() == "2012-07-16T18:09:20+08:00"
    # Stable across retries of the same push, different for another message in the same second.
    (again,) = parsed("dm_text.json")
    (other,) = parsed("dm_text.json", text="另一条")
    assert again.provider_message_id == message.provider_message_id != other.provider_message_id


def test_an_image_message_names_the_media_to_fetch_without_the_token() -> None:
    (message,) = parsed("dm_image.json")
    (attachment,) = message.attachments
    assert attachment.url == "https://upload.api.weibo.com/2/mss/msget?fid=821804469"
    assert attachment.name == "weibo-image-821804469.jpg" and not attachment.data
    assert TOKEN not in attachment.url


def test_a_comment_threads_per_post_and_commenter_and_says_where_to_reply() -> None:
    (comment,) = parsed("comment.json")
    assert comment.is_public
    assert list(comment.thread_keys) == [f"post:{POST_ID}", f"post:{POST_ID}:{CUSTOMER_UID}",
                                         f"reply:comment:3515170380984186:{POST_ID}"]
    assert comment.sender.display_name == "小明同学"
    assert comment.metadata == {"social_kind": "comment", "post_id": POST_ID, "comment_id": "3515170380984186",
                                "reply_visibility": "public", "post_excerpt": "新品降噪耳机今日开售，首批限量一千台！"}


def test_mentions() -> None:
    (status,) = parsed("mention_status.json")
    (comment,) = parsed("mention_comment.json")
    assert status.is_public and comment.is_public
    assert status.provider_message_id == "3700057402482222"
    assert "reply:post:3700057402482222" in status.thread_keys
    assert list(comment.thread_keys) == ["reply:comment:3700061234567890"]


def test_follow_and_unfollow() -> None:
    (follow,) = parsed("follow.json")
    (unfollow,) = parsed("unfollow.json")
    (scanned,) = parsed("follow.json", data={"subtype": "scan_follow", "key": "qr"})
    assert isinstance(follow, IdentityEvent) and isinstance(unfollow, IdentityEvent)
    assert (follow.change, unfollow.change, scanned.change) == ("follow", "unfollow", "follow")
    assert follow.sender.address == CUSTOMER_UID
    assert parsed("event_click.json") == []


@pytest.mark.parametrize(("value", "expected"), [
    ("Mon Jul 16 18:09:20 +0800 2012", "2012-07-16T18:09:20+08:00"),
    ("Wed Jun 01 00:50:25 -0130 2011", "2011-06-01T00:50:25-01:30"),
    ("Mon Foo 16 18:09:20 +0800 2012", None),
    ("Mon Feb 31 18:09:20 +0800 2012", None),
    ("2012-07-16T18:09:20Z", None),
    ("", None),
])
def test_the_platforms_dates(value: str, expected: str | None) -> None:
    parsed_at = parse_created_at(value)
    assert (parsed_at.isoformat() if parsed_at else None) == expected


# --- choosing the reply API ------------------------------------------------------------------------------


def test_a_dm_conversation_is_answered_privately(weibo: WeiboProvider) -> None:
    result = WeiboConnector().send(info_for(weibo), outbound([f"dm:{CUSTOMER_UID}", "reply:dm:wbdm-1"]))
    assert result.provider_message_id == "wbout-7"
    (request,) = weibo.sent()
    assert request.path == "/2/messages/reply.json"
    assert json.loads(request.form()["data"][0]) == {"text": "您好"}


def test_without_the_hubs_context_the_newest_reply_key_decides(weibo: WeiboProvider) -> None:
    keys = [f"reply:comment:{n}:{POST_ID}" for n in range(1, 21)]
    WeiboConnector().send(info_for(weibo), outbound(keys))
    assert weibo.sent()[-1].path == "/2/comments/reply.json"
    assert weibo.sent()[-1].form()["cid"] == ["20"]
    WeiboConnector().send(info_for(weibo), outbound([*keys, "reply:dm:wbdm-9"]))
    assert weibo.sent()[-1].path == "/2/messages/reply.json"


def test_the_latest_inbound_metadata_wins_when_the_hub_passes_it(weibo: WeiboProvider) -> None:
    keys = [f"reply:dm:{n}" for n in range(1, 30)]
    latest = {"social_kind": "comment", "comment_id": "3515170380984186", "post_id": POST_ID}
    result = WeiboConnector().send(info_for(weibo), outbound(keys, in_reply_to=latest))
    assert weibo.sent()[-1].form()["cid"] == ["3515170380984186"]
    assert result.provider_message_id == "4100000000000001"
    WeiboConnector().send(info_for(weibo), outbound([f"reply:comment:1:{POST_ID}"],
                                                    in_reply_to={"social_kind": "dm"}))
    assert weibo.sent()[-1].path == "/2/messages/reply.json"


@pytest.mark.parametrize(("answer", "temporary"), [
    (RATE_LIMITED, True),
    (Answer(403, {"error_code": 10022, "error": "IP requests out of rate limit!"}), True),
    (Answer(429, b"slow down"), True),
    (Answer(503, b"<html>busy</html>"), True),
    (Answer(200, {"error_code": "10001", "error": "System error"}), True),
    (Answer(200, b"<html>not json</html>"), True),
    (Answer(400, {"error_code": "21327", "error": "expired_token"}), False),
    (Answer(400, {"error_code": "20003", "error": "User does not exists!"}), False),
    (Answer(400, {"error_code": "oops", "error": "strange"}), False),
    (Answer(404, b""), False),
])
def test_platform_errors_become_temporary_or_permanent_failures(weibo: WeiboProvider, answer: Answer,
                                                                temporary: bool) -> None:
    weibo.server.fail_next(answer)
    with pytest.raises(TemporaryFailure if temporary else PermanentFailure) as caught:
        WeiboConnector().send(info_for(weibo), outbound(["reply:dm:1"]))
    if isinstance(answer.body, dict):
        assert str(answer.body["error"]) in str(caught.value)


def test_an_expired_token_tells_the_agent_what_to_do(weibo: WeiboProvider) -> None:
    with pytest.raises(PermanentFailure, match="access token must be renewed"):
        WeiboConnector().send(info_for(weibo, access_token="revoked"), outbound(["reply:dm:1"]))


def test_an_unreachable_platform_is_a_temporary_failure() -> None:
    with pytest.raises(TemporaryFailure, match="could not be reached"):
        WeiboConnector().send(info_for(), outbound(["reply:dm:1"]))


def test_a_public_answer_without_a_comment_id_is_retried(weibo: WeiboProvider) -> None:
    weibo.server.fail_next(Answer(200, {"created_at": "Wed Jun 01 00:50:25 +0800 2011"}))
    with pytest.raises(TemporaryFailure):
        WeiboConnector().send(info_for(weibo), outbound([f"reply:post:{POST_ID}"]))


def test_replies_need_a_user_id_a_token_and_text_only(weibo: WeiboProvider) -> None:
    connector, info = WeiboConnector(), info_for(weibo)
    with pytest.raises(PermanentFailure, match="not a Weibo user id"):
        connector.send(info, OutboundMessage(message_id=1, conversation_id=1, to="hub_support", text="hi"))
    with pytest.raises(PermanentFailure, match="text only"):
        connector.send(info, OutboundMessage(
            message_id=1, conversation_id=1, to=CUSTOMER_UID, text="hi",
            attachments=[OutboundAttachment("a.pdf", "application/pdf", "/tmp/a.pdf", 3)]))
    with pytest.raises(PermanentFailure, match="300"):
        connector.send(info, outbound([], text="长" * 301))
    with pytest.raises(PermanentFailure, match="empty"):
        connector.send(info, outbound([], text="  \n "))
    with pytest.raises(PermanentFailure, match="access token"):
        connector.send(info_for(weibo, access_token=""), outbound([]))
    assert weibo.sent() == []


def test_the_platforms_length_count() -> None:
    assert weibo_length("补" * 140) == 140
    assert weibo_length("a" * 280) == 140
    assert weibo_length("a" * 281) == 141
    assert weibo_length("您好 ok") == 4


async def test_send_works_from_a_thread_that_runs_an_event_loop(weibo: WeiboProvider) -> None:
    result = WeiboConnector().send(info_for(weibo), outbound(["reply:dm:1"]))
    assert result.provider_message_id == "wbout-7"


# --- media --------------------------------------------------------------------------------------------------


def test_media_is_only_fetched_from_the_platforms_media_api(weibo: WeiboProvider) -> None:
    connector, info = WeiboConnector(), info_for(weibo)
    media = connector.fetch_media(info, f"{weibo.url}/2/mss/msget?fid=821804469", 1000)
    assert (media.data, media.content_type) == (b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg")
    assert weibo.server.requests[-1].query == {"fid": ["821804469"], "access_token": [TOKEN]}
    for url in ("https://evil.example/2/mss/msget?fid=1", f"{weibo.url}/2/comments/reply.json?x=1",
                "file:///etc/passwd", f"{weibo.url}.evil.example/2/mss/msget?fid=1"):
        with pytest.raises(PermanentFailure, match="refusing"):
            connector.fetch_media(info, url, 1000)
    with pytest.raises(PermanentFailure, match="larger than 5 bytes"):
        connector.fetch_media(info, f"{weibo.url}/2/mss/msget?fid=821804469", 5)
    with pytest.raises(PermanentFailure, match="404"):
        connector.fetch_media(info, f"{weibo.url}/2/mss/msget?fid=404", 1000)


def test_media_errors_from_the_platform(weibo: WeiboProvider) -> None:
    connector, info = WeiboConnector(), info_for(weibo)
    url = f"{weibo.url}/2/mss/msget?fid=821804469"
    weibo.server.fail_next(Answer(502, b"bad gateway"))
    with pytest.raises(TemporaryFailure):
        connector.fetch_media(info, url, 1000)
    weibo.server.fail_next(RATE_LIMITED)
    with pytest.raises(TemporaryFailure, match="rate limit"):
        connector.fetch_media(info, url, 1000)
    weibo.server.fail_next(Answer(302, b"", {"Location": "https://evil.example/x.jpg"}))
    with pytest.raises(PermanentFailure, match="outside the platform"):
        connector.fetch_media(info, url, 1000)
    weibo.server.fail_next(Answer(200, {"result": True}))
    with pytest.raises(PermanentFailure, match="instead of the media"):
        connector.fetch_media(info, url, 1000)
    with pytest.raises(TemporaryFailure, match="could not be reached"):
        connector.fetch_media(info_for(upload_api_base="http://127.0.0.1:9"),
                              "http://127.0.0.1:9/2/mss/msget?fid=1", 1000)


def test_the_real_platform_hosts_are_used_for_the_real_api_base() -> None:
    real = Endpoints({"api_base": "https://api.weibo.com/"})
    assert (real.api, real.messages, real.upload) == ("https://api.weibo.com", "https://m.api.weibo.com",
                                                     "https://upload.api.weibo.com")
    proxy = Endpoints({"api_base": "https://weibo-proxy.internal/"})
    assert proxy.messages == proxy.upload == "https://weibo-proxy.internal"
