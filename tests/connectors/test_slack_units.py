"""The Slack connector's parts that need no database: mrkdwn both ways, the reply's thread, Slack's Web API
answers as failures (against the local Web API double), file downloads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import AccountInfo, OutboundMessage, PermanentFailure, TemporaryFailure
from connectors.slack import mrkdwn, threads
from connectors.slack.connector import SlackConnector
from tests.connectors.provider import Answer
from tests.connectors.test_slack_contract import PNG, SECRET, TEAM, TOKEN, SlackProvider, posted_args, running_slack

PARENT_TS = "1482960137.003543"


@pytest.fixture(scope="module")
def slack_server() -> Iterator[SlackProvider]:
    yield from running_slack()


@pytest.fixture
def slack(slack_server: SlackProvider) -> SlackProvider:
    # One server for the module (stopping one takes half a second); each test starts with no requests seen.
    slack_server.server.requests.clear()
    return slack_server


def info(slack: SlackProvider, **config: Any) -> AccountInfo:
    return AccountInfo(id=1, channel="slack", address=TEAM,
                       config={"signing_secret": SECRET, "bot_token": TOKEN, "api_base": slack.api_base, **config})


def outbound(**fields: Any) -> OutboundMessage:
    return OutboundMessage(**{"message_id": 1, "conversation_id": 1, "to": "U061F7AUR", "text": "hi",
                              "thread_keys": threads.thread_keys("C123ABC456", PARENT_TS, PARENT_TS), **fields})


@pytest.mark.parametrize(("raw", "text"), [
    ("<@U024BE7LH> and <@U024BE7LH|bob>", "@U024BE7LH and @bob"),
    ("see <#C024BE7LR|general> or <#C024BE7LR>", "see #general or #C024BE7LR"),
    ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
    ("<!subteam^SAZ94GDB8|@support> <!subteam^SAZ94GDB8>", "@support @SAZ94GDB8"),
    ("<!date^1392734382^{date_num}|2014-02-18>", "2014-02-18"),
    ("<https://example.com|the docs> and <https://example.com>", "the docs (https://example.com) and https://example.com"),
    ("<http://example.com|example.com> <mailto:bob@example.com|bob@example.com>", "example.com bob@example.com"),
    ("1 &lt; 2 &amp;&amp; 3 &gt; 2, &amp;lt; stays", "1 < 2 && 3 > 2, &lt; stays"),
    ("no markup, <broken", "no markup, <broken"),
])
def test_mrkdwn_becomes_readable_text(raw: str, text: str) -> None:
    assert mrkdwn.to_text(raw) == text


def test_only_a_leading_mention_of_our_own_bot_is_dropped() -> None:
    assert mrkdwn.to_text("<@UBOT> help please", {"UBOT"}) == "help please"
    assert mrkdwn.to_text("<@UBOT|hub>: help", {"UBOT"}) == "help"
    assert mrkdwn.to_text("ask <@UBOT>", {"UBOT"}) == "ask @UBOT"
    assert mrkdwn.to_text("<@UOTHER> help", {"UBOT"}) == "@UOTHER help"


def test_outgoing_text_is_escaped() -> None:
    assert mrkdwn.escape("<!here> a & b > c") == "&lt;!here&gt; a &amp; b &gt; c"
    assert mrkdwn.to_text(mrkdwn.escape("<@U1> & <x>")) == "<@U1> & <x>"


def test_the_reply_thread_is_the_newest_message_keys_thread() -> None:
    keys = [*threads.thread_keys("C1", "100.000001", "100.000001"),
            *threads.thread_keys("C1", "200.000001", "200.000001"),
            "C1:100.000001",  # an older thread key seen again keeps its place
            *threads.thread_keys("C1", "100.000001", "300.000001")[1:],
            "C1:400.000009"]  # provider ids (our own replies) come last and name no thread
    assert threads.reply_target(keys, "U1") == threads.ReplyTarget("C1", "100.000001")
    assert threads.reply_target(["C1:100.000001"], "U1") == threads.ReplyTarget("U1", None)
    assert threads.reply_target([], "") is None


def test_a_reply_is_posted_into_the_thread_with_the_bot_token(slack: SlackProvider) -> None:
    result = SlackConnector().send(info(slack), outbound(text="On it"))
    [request] = slack.sent()
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    args = posted_args(request)
    assert (args["channel"], args["thread_ts"], args["text"]) == ("C123ABC456", PARENT_TS, "On it")
    assert re.fullmatch(r"C123ABC456:17\d{8}\.000200", result.provider_message_id)  # the ts Slack gave the post


@pytest.mark.parametrize(("answer", "failure", "reason"), [
    ((200, {"ok": False, "error": "channel_not_found"}, {}), PermanentFailure, "cannot find this conversation's"),
    ((200, {"ok": False, "error": "not_in_channel"}, {}), PermanentFailure, "not a member of this channel"),
    ((200, {"ok": False, "error": "is_archived"}, {}), PermanentFailure, "archived"),
    ((200, {"ok": False, "error": "invalid_auth"}, {}), PermanentFailure, "bot token"),
    ((200, {"ok": False, "error": "msg_too_long"}, {}), PermanentFailure, "too long"),
    ((200, {"ok": False, "error": "something_new"}, {}), PermanentFailure, "something_new"),
    ((200, {"ok": False, "error": "internal_error"}, {}), TemporaryFailure, "internal_error"),
    ((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}), TemporaryFailure, "retry after 30 s"),
    ((503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"}), TemporaryFailure, "HTTP 503"),
    ((404, b"no such method", {}), PermanentFailure, "HTTP 404"),
])
def test_slack_answers_map_to_failures(slack: SlackProvider, answer: tuple[int, Any, dict[str, str]],
                                       failure: type[Exception], reason: str) -> None:
    slack.server.fail_next(Answer(*answer))
    with pytest.raises(failure, match=reason):
        SlackConnector().send(info(slack), outbound())
    assert len(slack.server.requests) == 1  # no retry inside WebClient: the outbox retries


def test_an_unreachable_slack_is_a_temporary_failure(slack: SlackProvider) -> None:
    with pytest.raises(TemporaryFailure, match="could not be reached"):
        SlackConnector().send(info(slack, api_base="http://127.0.0.1:9/api/", timeout=2), outbound())


def test_without_a_thread_the_reply_is_a_direct_message(slack: SlackProvider) -> None:
    result = SlackConnector().send(info(slack), outbound(thread_keys=[], text="Following up"))
    args = posted_args(slack.sent()[-1])
    assert args["channel"] == "U061F7AUR" and "thread_ts" not in args
    assert result.provider_message_id.startswith("D061F7AUR:")  # the DM channel Slack answered with
    with pytest.raises(PermanentFailure, match="no Slack thread"):
        SlackConnector().send(info(slack), outbound(thread_keys=[], to=""))


def test_files_in_a_reply_are_refused_visibly(slack: SlackProvider, tmp_path: Any) -> None:
    from connectors.base import OutboundAttachment

    attachment = OutboundAttachment(name="a.pdf", content_type="application/pdf", path=str(tmp_path / "a"), size=1)
    with pytest.raises(PermanentFailure, match="cannot carry files"):
        SlackConnector().send(info(slack), outbound(attachments=[attachment]))
    assert slack.sent() == []


def test_fetch_media_refuses_other_hosts_big_files_and_sign_in_pages(slack: SlackProvider) -> None:
    connector = SlackConnector()
    media = connector.fetch_media(info(slack), slack.url + "/files-pri/T1-F1/a.png", 1000)
    assert (media.data, media.content_type) == (PNG, "image/png")
    for url in ("https://attacker.example/files-pri/a.png", "http://files.slack.com/files-pri/a.png",
                "https://files.slack.com:8443/files-pri/a.png", "file:///etc/passwd"):
        with pytest.raises(PermanentFailure, match="not a Slack file URL"):
            connector.fetch_media(info(slack), url, 1000)
    with pytest.raises(PermanentFailure, match="larger than"):
        connector.fetch_media(info(slack), slack.url + "/files-pri/T1-F1/a.png", 10)
    with pytest.raises(PermanentFailure, match="no such file"):
        connector.fetch_media(info(slack), slack.url + "/files-pri/T1-F1/missing.png", 1000)
    with pytest.raises(TemporaryFailure, match="503"):
        connector.fetch_media(info(slack), slack.url + "/files-pri/T1-F1/busy.png", 1000)
    with pytest.raises(PermanentFailure, match="sign-in page"):
        connector.fetch_media(info(slack, bot_token="xoxb-wrong"), slack.url + "/files-pri/T1-F1/a.png", 1000)
    with pytest.raises(PermanentFailure, match="no Slack bot token"):
        connector.fetch_media(info(slack, bot_token=""), slack.url + "/files-pri/T1-F1/a.png", 1000)


def test_fetch_media_does_not_follow_a_redirect_off_slack(slack: SlackProvider) -> None:
    slack.server.route("GET", "/moved/a.png", lambda r: Answer(302, b"", {"Location": "https://elsewhere.example/a"}))
    with pytest.raises(PermanentFailure, match="redirected"):
        SlackConnector().fetch_media(info(slack), slack.url + "/moved/a.png", 1000)
    assert [r.path for r in slack.server.requests] == ["/moved/a.png"]
