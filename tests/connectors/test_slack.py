"""The Slack connector through the real webhook route and outbox: Slack's own cases (url_verification,
retries, the bot's echo, threads shared by several people, the thread a reply goes into, files, Slack's
error answers) and every bad input a provider or an attacker can send."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from connectors.slack.connector import SlackConnector
from hub.actions.outbound import do_send_reply
from hub.connector_port import account_info
from hub.models import ChannelAccount, Conversation, Identity, Message, WebhookDelivery
from hub.taskqueue import runner
from tests import factories as f
from tests.connectors.contract import WebhookCall, call, inbound_count
from tests.connectors.test_slack_contract import (
    EVENTS_PATH,
    PNG,
    SECRET,
    TEAM,
    TOKEN,
    SlackProvider,
    event_payload,
    fixture,
    posted_args,
    running_slack,
    sign,
    signed,
    slack_account,
)

pytestmark = pytest.mark.django_db(transaction=True)
# Refused requests store and commit nothing: those tests run inside a rolled-back transaction (faster).
refused = pytest.mark.django_db

PARENT_TS = "1482960137.003543"  # the thread of Slack's threading examples


@pytest.fixture
def slack() -> Iterator[SlackProvider]:
    yield from running_slack()


@pytest.fixture
def account(slack: SlackProvider) -> ChannelAccount:
    return slack_account(slack)


def post(client: Client, payload: Any, **headers: str) -> Any:
    response = call(client, signed(payload, **headers))
    assert response.status_code < 500, response.content
    return response


def say(client: Client, text: str, *, ts: str, user: str = "U061F7AUR", thread_ts: str | None = None,
        channel: str = "C123ABC456", **event: Any) -> Message:
    """A customer's message in the channel (top level, or in a thread), stored."""
    payload = event_payload("message_thread_reply", user=user, text=text, ts=ts, event_ts=ts, channel=channel,
                            thread_ts=thread_ts, parent_user_id=None, **event)
    response = post(client, payload)
    assert response.status_code == 200, response.content
    return Message.objects.get(provider_message_id=f"{channel}:{ts}")


def last_post(slack: SlackProvider) -> dict[str, Any]:
    sent = slack.sent()
    assert sent, "nothing was posted to Slack"
    return posted_args(sent[-1])


# --- inbound ----------------------------------------------------------------------------------------------


def test_url_verification_is_answered_with_the_challenge(client: Client, slack: SlackProvider,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The handshake names no workspace: the default account's signing secret verifies it.
    monkeypatch.setenv("HUB_SLACK_SIGNING_SECRET", SECRET)
    ChannelAccount.objects.create(channel="slack", name="Slack workspace", address="T0000000", is_default=True)
    response = post(client, fixture("url_verification"))
    assert response.status_code == 200
    assert response.content == b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert response["Content-Type"].startswith("text/plain")
    assert inbound_count() == 0 and not Conversation.objects.exists()
    assert call(client, signed(fixture("url_verification"), secret="wrong")).status_code == 403


def test_a_separate_app_verifies_its_own_request_url(client: Client, slack: SlackProvider) -> None:
    slack_account(slack, address="T0SECOND1", signing_secret="second-app-secret")
    handshake = signed(fixture("url_verification"), secret="second-app-secret")
    response = call(client, WebhookCall(EVENTS_PATH + "/T0SECOND1", handshake.body, handshake.headers))
    assert response.status_code == 200 and response.content.startswith(b"3eZbrw1a")
    message = signed({**event_payload(), "team_id": "T0SECOND1"}, secret="second-app-secret")
    assert call(client, WebhookCall(EVENTS_PATH + "/T0SECOND1", message.body, message.headers)).status_code == 200
    assert Message.objects.get().channel_account.address == "T0SECOND1"
    assert call(client, WebhookCall(EVENTS_PATH + "/T0NOBODY1", message.body, message.headers)).status_code == 404


def test_a_message_in_a_channel_becomes_a_customer_message(client: Client, account: ChannelAccount,
                                                           slack: SlackProvider) -> None:
    payload = event_payload(text="Hi <@U0LAN0Z89>, see <#C024BE7LR|general> and <https://example.com/a?b=1&amp;c=2|"
                                 "the docs> &lt;3", user_profile={"display_name": "Spengler", "real_name": "Egon"})
    assert post(client, payload).status_code == 200
    message = Message.objects.get()
    assert message.provider_message_id == "C123ABC456:1355517523.000005"
    assert message.text == "Hi @U0LAN0Z89, see #general and the docs (https://example.com/a?b=1&c=2) <3"
    assert message.metadata["mrkdwn"] == payload["event"]["text"]
    assert (message.metadata["channel"], message.metadata["thread_ts"]) == ("C123ABC456", "1355517523.000005")
    assert message.metadata["provider_sent_at"].startswith("2012-12-14")
    identity = message.author_identity
    assert identity is not None
    assert (identity.kind, identity.address, identity.display_name) == ("slack", "U123ABC456", "Spengler")
    assert slack.server.requests == []  # no Slack API call while Slack waits for its answer


@refused
def test_an_old_timestamp_is_refused_with_the_reason(client: Client, account: ChannelAccount,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    response = call(client, signed(event_payload(), timestamp=int(time.time()) - 6 * 60))
    assert response.status_code == 403
    assert b"5-minute window" in response.content
    assert "5-minute window" in caplog.text
    assert inbound_count() == 0


@refused
def test_missing_or_unreadable_signature_headers_are_refused(client: Client, account: ChannelAccount) -> None:
    body = json.dumps(event_payload()).encode()
    for headers, reason in [({}, b"missing"),
                            ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}, b"not a Unix time"),
                            ({"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=00"}, b"not a Unix time"),
                            ({**sign(body), "X-Slack-Signature": "v0=" + "0" * 64}, b"does not match")]:
        response = call(client, WebhookCall(EVENTS_PATH, body, headers))
        assert (response.status_code, reason in response.content) == (403, True), (headers, response.content)
    assert inbound_count() == 0


@refused
def test_an_account_without_a_signing_secret_refuses_everything(client: Client, slack: SlackProvider) -> None:
    slack_account(slack, signing_secret="")
    response = call(client, signed(event_payload()))
    assert response.status_code == 403 and b"no signing secret" in response.content


def test_slack_retries_store_one_message(client: Client, account: ChannelAccount) -> None:
    payload = event_payload()
    assert post(client, payload).status_code == 200
    # Slack retries with a new timestamp and signature, and says so.
    retry = post(client, payload, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    assert inbound_count() == 1
    assert WebhookDelivery.objects.get(connector="slack", key=payload["event_id"]).processed


def test_a_retry_after_a_crash_before_the_delivery_was_marked_still_stores_one(client: Client,
                                                                             account: ChannelAccount) -> None:
    payload = event_payload()
    post(client, payload)
    # As if the process died between storing the message and marking the delivery processed.
    WebhookDelivery.objects.filter(connector="slack").update(processed=False)
    assert post(client, payload, **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"}).status_code \
        == 200
    assert inbound_count() == 1


def test_the_same_message_as_message_and_app_mention_is_stored_once(client: Client, account: ChannelAccount) -> None:
    mention = event_payload("app_mention")
    post(client, mention)
    message = Message.objects.get()
    assert message.provider_message_id == "C123ABC456:1515449522.000016"
    assert message.text == "@U0LAN0Z89 is it everything a river should be?"
    # Subscribed to both, the app gets the same message as a message.channels event too.
    post(client, event_payload(user="U061F7AUR", text=mention["event"]["text"], ts="1515449522.000016"))
    assert inbound_count() == 1


def test_a_mention_of_our_own_bot_is_dropped_from_the_text(client: Client, account: ChannelAccount) -> None:
    payload = event_payload("app_mention")
    payload["authorizations"] = [{"team_id": TEAM, "user_id": "U0LAN0Z89", "is_bot": True}]
    post(client, payload)
    assert Message.objects.get().text == "is it everything a river should be?"


def test_bot_messages_and_our_own_echo_are_ignored(client: Client, account: ChannelAccount) -> None:
    assert post(client, event_payload("bot_message")).status_code == 200
    # Our own chat.postMessage comes back as a message with our bot_id...
    assert post(client, event_payload(bot_id="B0HUBBOT01", user="U0HUBBOT1")).status_code == 200
    # ...or written by the bot user the payload's authorizations name.
    own = event_payload(user="U0HUBBOT1")
    own["authorizations"] = [{"team_id": TEAM, "user_id": "U0HUBBOT1", "is_bot": True}]
    assert post(client, own).status_code == 200
    # ...or by the bot user the account's config names.
    account.config = {**account.config, "bot_user_id": "U0HUBBOT2"}
    account.save()
    assert post(client, event_payload(user="U0HUBBOT2")).status_code == 200
    assert inbound_count() == 0 and not Conversation.objects.exists()


def test_edits_deletions_and_joins_are_acknowledged_and_not_stored(client: Client, account: ChannelAccount,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    assert post(client, event_payload("message_changed")).status_code == 200
    deleted = event_payload(subtype="message_deleted", hidden=True, deleted_ts="1358878749.000002", user=None)
    assert post(client, deleted).status_code == 200
    assert post(client, event_payload(subtype="channel_join", text="<@U123ABC456> has joined")).status_code == 200
    assert post(client, event_payload("reaction_added")).status_code == 200
    assert inbound_count() == 0
    assert "message_changed" in caplog.text and "reaction_added" in caplog.text


def test_interactive_and_slash_command_form_bodies_are_acknowledged(client: Client, account: ChannelAccount) -> None:
    for form in ({"payload": json.dumps(fixture("block_actions"))},
                 {"team_id": TEAM, "command": "/weather", "text": "94070", "user_id": "U123ABC456"}):
        body = urlencode(form).encode()
        response = call(client, WebhookCall(EVENTS_PATH, body, sign(body), "application/x-www-form-urlencoded"))
        assert response.status_code == 200, response.content
    assert inbound_count() == 0


@refused
def test_a_workspace_without_an_account_is_404(client: Client, account: ChannelAccount) -> None:
    response = call(client, signed({**event_payload(), "team_id": "T999NOBODY"}))
    assert response.status_code == 404
    assert inbound_count() == 0


@refused
def test_unreadable_bodies_get_400_never_500(client: Client, account: ChannelAccount) -> None:
    for body in [b"{not json", b"[1, 2]", b'"text"', "\udcff".encode("utf-8", "surrogatepass"), b"\xff\xfe{}",
                 b'{"team_id": 42, "type": "event_callback"}', b'{"team_id": "", "type": "event_callback"}']:
        response = client.generic("POST", EVENTS_PATH, data=body, content_type="application/json", headers=sign(body))
        assert response.status_code == 400, (body, response.content)
        assert b"malformed" in response.content
    assert inbound_count() == 0


@refused
def test_events_missing_fields_or_with_wrong_types_get_400(client: Client, account: ChannelAccount) -> None:
    for change in [{"user": None}, {"channel": None}, {"ts": None}, {"user": 42}, {"channel": ["C1"]},
                   {"ts": 1355517523.000005}, {"ts": "99999999999999999999.000005"}, {"thread_ts": "yesterday"},
                   {"user": "U1; DROP TABLE"}, {"text": {"a": 1}}, {"files": "F1"}, {"files": ["F1"]},
                   {"type": None}, {"subtype": 7}]:
        payload = event_payload(**{k: v for k, v in change.items() if v is not None},
                                **{k: None for k, v in change.items() if v is None})
        response = post(client, payload)
        assert response.status_code == 400, (change, response.content)
        assert len(response.content.strip()) > 10
    payload = event_payload()
    del payload["event"]
    assert post(client, payload).status_code == 400
    assert post(client, {"type": "url_verification", "team_id": TEAM, "challenge": 5}).status_code == 400
    assert inbound_count() == 0


def test_a_huge_timestamp_in_range_of_the_pattern_still_stores(client: Client, account: ChannelAccount) -> None:
    assert post(client, event_payload(ts="999999999999.999999")).status_code == 200
    assert Message.objects.get().metadata.get("provider_sent_at") is None


# --- threads ----------------------------------------------------------------------------------------------


def test_a_threaded_reply_joins_the_conversation_of_its_thread(client: Client, account: ChannelAccount) -> None:
    parent = say(client, "island", ts=PARENT_TS)
    reply = say(client, "one island", ts="1483037603.017503", thread_ts=PARENT_TS)
    assert reply.conversation_id == parent.conversation_id
    assert Conversation.objects.count() == 1


def test_two_people_in_one_thread_are_one_conversation(client: Client, account: ChannelAccount) -> None:
    first = say(client, "Our invoices page is down", ts=PARENT_TS, user="U061F7AUR")
    colleague = say(client, "Same here since 9:00", ts="1483037603.017503", thread_ts=PARENT_TS, user="U0G9QF9C6")
    assert colleague.conversation_id == first.conversation_id
    assert Conversation.objects.count() == 1
    assert set(Identity.objects.values_list("address", flat=True)) == {"U061F7AUR", "U0G9QF9C6"}
    # Someone else's new top-level message is their own conversation.
    other = say(client, "Unrelated question", ts="1483040000.000100", user="U0G9QF9C6")
    assert other.conversation_id != first.conversation_id


def test_the_reply_goes_into_the_thread_of_the_customers_latest_message(client: Client, account: ChannelAccount,
                                                                         slack: SlackProvider) -> None:
    agent = f.agent()
    first = say(client, "The export fails", ts=PARENT_TS)
    conversation = first.conversation
    do_send_reply(agent, conversation, "Which file?")
    assert (last_post(slack)["channel"], last_post(slack)["thread_ts"]) == ("C123ABC456", PARENT_TS)
    # A new top-level message while the conversation is open continues it: the reply follows the customer.
    later = say(client, "Also the import", ts="1483040000.000100")
    assert later.conversation_id == conversation.pk
    do_send_reply(agent, conversation, "Looking at the import too")
    assert last_post(slack)["thread_ts"] == "1483040000.000100"
    # Back in the first thread: so is the reply.
    say(client, "report.csv", ts="1483041000.000200", thread_ts=PARENT_TS)
    do_send_reply(agent, conversation, "Thanks, got it")
    assert last_post(slack)["thread_ts"] == PARENT_TS
    # A colleague answering in the newer thread moves the reply there.
    say(client, "For me it is the import", ts="1483042000.000300", thread_ts="1483040000.000100", user="U0G9QF9C6")
    do_send_reply(agent, conversation, "Noted")
    assert last_post(slack)["thread_ts"] == "1483040000.000100"
    assert Conversation.objects.count() == 1
    assert all(m.status == Message.Status.SENT for m in Message.objects.filter(direction=Message.Direction.OUT))


def test_a_customer_answering_under_the_agents_reply_stays_in_the_conversation(
        client: Client, account: ChannelAccount, slack: SlackProvider) -> None:
    first = say(client, "Hello", ts=PARENT_TS)
    reply = do_send_reply(f.agent(), first.conversation, "Hi!")
    reply.refresh_from_db()
    channel, ts = reply.provider_message_id.split(":")
    assert channel == "C123ABC456"
    # Slack's echo of our post, had it no bot_id, is recognised as the reply itself.
    post(client, event_payload(user="U0HUBBOT1", ts=ts, text="Hi!"))
    assert inbound_count() == 1
    answer = say(client, "Thanks", ts="1700099999.000100", thread_ts=PARENT_TS)
    assert answer.conversation_id == first.conversation_id


def test_agent_text_is_escaped_so_it_cannot_ping_or_link(client: Client, account: ChannelAccount,
                                                         slack: SlackProvider) -> None:
    first = say(client, "Hello", ts=PARENT_TS)
    do_send_reply(f.agent(), first.conversation, "<!channel> R&D says <@U123|boss> is fine")
    assert last_post(slack)["text"] == "&lt;!channel&gt; R&amp;D says &lt;@U123|boss&gt; is fine"


# --- outbound failures ------------------------------------------------------------------------------------


def test_a_rate_limited_reply_is_retried_later_and_sent(client: Client, account: ChannelAccount,
                                                        slack: SlackProvider) -> None:
    first = say(client, "Hello", ts=PARENT_TS)
    slack.fail_temporarily()
    reply = do_send_reply(f.agent(), first.conversation, "One moment")
    reply.refresh_from_db()
    assert reply.status == Message.Status.QUEUED
    assert "rate limited" in reply.failure_reason and "retry after 1 s" in reply.failure_reason
    assert len(slack.sent()) == 1  # WebClient's own retry handlers are off: the outbox retries
    runner.drain()
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT and len(slack.sent()) == 2


def test_channel_not_found_fails_the_reply_with_a_readable_reason(client: Client, account: ChannelAccount,
                                                                  slack: SlackProvider) -> None:
    first = say(client, "Hello", ts=PARENT_TS)
    slack.fail_permanently()
    reply = do_send_reply(f.agent(), first.conversation, "Hello?")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert reply.failure_reason.startswith("Slack cannot find this conversation's channel")
    assert runner.drain() == 0


def test_configuration_and_the_default_account_from_the_environment(slack: SlackProvider,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    connector = SlackConnector()
    assert connector.is_configured(account_info(slack_account(slack)))
    assert not connector.is_configured(account_info(slack_account(slack, address="T2", bot_token="")))
    default = ChannelAccount.objects.create(channel="slack", name="Slack workspace", address="T0000000",
                                            is_default=True)
    monkeypatch.setenv("HUB_SLACK_SIGNING_SECRET", "env-secret")
    monkeypatch.setenv("HUB_SLACK_BOT_TOKEN", "xoxb-env")
    monkeypatch.setenv("HUB_SLACK_API_BASE", slack.api_base)
    config = account_info(default).config
    assert (config["signing_secret"], config["bot_token"], config["api_base"]) == ("env-secret", "xoxb-env",
                                                                                   slack.api_base)


# --- files ------------------------------------------------------------------------------------------------


def file_share(slack: SlackProvider, *paths: str) -> dict[str, Any]:
    """The documented file_share message, its url_private pointing at the provider double."""
    payload = event_payload("file_share")
    template = payload["event"]["files"][0]
    payload["event"]["files"] = [{**template, "url_private": slack.url + path, "name": path.rsplit("/", 1)[1]}
                                 for path in paths]
    return payload


def test_a_shared_file_is_fetched_after_commit_with_the_bot_token(client: Client, account: ChannelAccount,
                                                                  slack: SlackProvider) -> None:
    payload = file_share(slack, "/files-pri/T061EG9R6-F0RDC39U1/ghostrap.png", "/files-pri/T061EG9R6-F2/missing.png")
    assert post(client, payload).status_code == 200
    message = Message.objects.get()
    assert message.provider_message_id == "D0L4B9P0Q:1529342088.000086"
    assert message.text == "We got one!"
    attachment = message.attachments.get()
    assert (attachment.name, attachment.content_type, attachment.size) == ("ghostrap.png", "image/png", len(PNG))
    downloads = [r for r in slack.server.requests if r.path.startswith("/files-pri/")]
    assert {r.headers["authorization"] for r in downloads} == {f"Bearer {TOKEN}"}
    [failed] = message.metadata["attachments_not_stored"]
    assert failed["reason"] == "fetch_failed" and "no such file" in failed["detail"]


def test_a_file_slack_gives_no_url_for_is_listed(client: Client, account: ChannelAccount) -> None:
    payload = event_payload("file_share")
    payload["event"]["files"] = [{"id": "F12345678", "mode": "file_access", "file_access": "check_file_info"}]
    post(client, payload)
    message = Message.objects.get()
    assert message.metadata["slack_files_unavailable"] == ["F12345678"]
    assert not message.attachments.exists()
