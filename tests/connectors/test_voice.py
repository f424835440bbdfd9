"""Calls end to end through the Twilio webhooks: queued with hold music, handed to the agent routing found,
voicemail out of hours or after too long a wait, recordings and transcripts attached to the call, missed
calls turned into one callback task, and every kind of bad request answered without a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from hub.actions.agents import do_set_presence
from hub.actions.calls import do_request_callback
from hub.actions.conversations import do_assign, do_set_status
from hub.actions.outbound import do_send_reply
from hub.actions.routing import do_accept_offer
from hub.models import (
    Change,
    ChannelAccount,
    Conversation,
    Identity,
    Message,
    Note,
    RoutingEntry,
    RoutingOffer,
    RoutingQueue,
)
from tests import factories as f
from tests.connectors.contract import call, inbound_count
from tests.connectors.test_voice_support import (
    CALL_SID,
    CALLER,
    NUMBER,
    follow,
    incoming,
    payload,
    post,
    signed,
    twiml,
    verbs,
    voice_account,
)

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC = "http://127.0.0.1:8000"
ACCOUNT_QUERY = "account=%2B15005550006"


@pytest.fixture
def account() -> ChannelAccount:
    return voice_account()


def the_call(sid: str = CALL_SID) -> Message:
    return Message.objects.get(provider_message_id=f"call:{sid}")


def closed_queue() -> RoutingQueue:
    return RoutingQueue.objects.create(name="Phones", channels=["voice"], order=0,
                                       hours={"timezone": "UTC", "weekly": {}})


def changes_since(number: int) -> list[str]:
    return list(Change.objects.filter(number__gt=number).order_by("number").values_list("payload__type", flat=True))


def last_change() -> int:
    return Change.objects.order_by("-number").values_list("number", flat=True).first() or 0


# --- the call flow --------------------------------------------------------------------------------------

def test_an_incoming_call_is_a_voice_contact_queued_with_hold_music(client: Client, account: ChannelAccount) -> None:
    root = incoming(client)
    assert verbs(root) == ["Enqueue"]
    enqueue = root[0]
    assert enqueue.text == "hub"
    assert enqueue.get("waitUrl") == f"{PUBLIC}/webhooks/twilio/voice/wait?{ACCOUNT_QUERY}"
    assert enqueue.get("action") == f"{PUBLIC}/webhooks/twilio/voice/queue-result?{ACCOUNT_QUERY}"
    message = the_call()
    conversation = message.conversation
    assert (message.kind, message.direction, conversation.channel) == ("call", "in", "voice")
    assert message.metadata["call_status"] == "ringing" and message.metadata["answered_by"] == ""
    assert message.metadata["caller_city"] == "SAN FRANCISCO"
    assert Identity.objects.get(kind="phone", address=CALLER).customer_id == conversation.customer_id
    assert RoutingEntry.objects.get(pk=conversation.pk).state == "waiting"

    # Nobody answers yet: the wait URL plays hold music, telling the caller their place at first.
    wait = twiml(follow(client, enqueue.get("waitUrl", ""), payload("queue_wait")))
    assert verbs(wait) == ["Say", "Play"]
    assert wait[0].text == "You are number 1 in line. Thank you for waiting."
    assert wait[1].text == "https://demo.twilio.com/docs/classic.mp3"
    later = twiml(follow(client, enqueue.get("waitUrl", ""), payload("queue_wait", QueueTime="25")))
    assert verbs(later) == ["Play"]
    assert Message.objects.filter(kind="call").count() == 1


def test_the_whole_call_flow_offer_accept_connect_and_timeline(client: Client, account: ChannelAccount) -> None:
    alice = f.agent("alice", presence="available")
    enqueue = incoming(client)[0]
    conversation = the_call().conversation
    offer = RoutingOffer.objects.get(conversation=conversation, agent=alice, outcome="pending")
    # Offered, not yet accepted: the caller keeps waiting.
    assert "Leave" not in verbs(twiml(follow(client, enqueue.get("waitUrl", ""), payload("queue_wait"))))

    do_accept_offer(alice, offer.pk)
    assert verbs(twiml(follow(client, enqueue.get("waitUrl", ""), payload("queue_wait", QueueTime="31")))) \
        == ["Leave"]
    connect = twiml(follow(client, enqueue.get("action", ""), payload("queue_result")))
    assert verbs(connect) == ["Dial"]
    dial = connect[0]
    assert dial.get("action") == f"{PUBLIC}/webhooks/twilio/voice/dial-result?{ACCOUNT_QUERY}&agent=alice"
    client_leg = dial[0]
    assert (client_leg.tag, client_leg.text) == ("Client", "alice")
    assert client_leg.get("statusCallbackEvent") == "answered"

    before = last_change()
    twiml(follow(client, client_leg.get("statusCallback", ""), payload("agent_answered")))
    assert the_call().metadata["answered_by"] == "alice"
    assert changes_since(before) == ["message.updated"]
    assert verbs(twiml(follow(client, dial.get("action", ""), payload("dial_result")))) == ["Hangup"]
    twiml(post(client, "status", payload("status_completed")))

    meta = the_call().metadata
    assert meta["call_status"] == "completed" and meta["duration_seconds"] == 236
    assert meta["talk_seconds"] == 187 and meta["queue_seconds"] == 42
    assert [step["status"] for step in meta["status_history"]] == ["ringing", "in-progress", "completed"]
    # Answered: no callback task.
    assert not Note.objects.exists()
    assert not Conversation.objects.get(pk=conversation.pk).tags.exists()
    assert Conversation.objects.get(pk=conversation.pk).assignee == alice


def test_an_agent_who_already_has_the_conversation_is_dialled_at_once(client: Client,
                                                                      account: ChannelAccount) -> None:
    bob = f.agent("bob")
    incoming(client)
    do_assign(None, the_call().conversation, bob)
    root = incoming(client, CallSid="CA99999999999999999999999999999999")
    assert verbs(root) == ["Dial"]
    assert root[0][0].text == "bob"
    assert the_call("CA99999999999999999999999999999999").conversation_id == the_call().conversation_id


def test_out_of_hours_the_caller_leaves_a_voicemail_with_transcript(client: Client,
                                                                     account: ChannelAccount) -> None:
    closed_queue()
    root = incoming(client)
    assert verbs(root) == ["Say", "Record", "Say", "Hangup"]
    assert root[0].text == ("Sorry, nobody can take your call right now. Please leave a message after the tone, "
                            "and we will call you back.")
    record = root[1]
    assert record.get("maxLength") == "120" and record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == f"{PUBLIC}/webhooks/twilio/voice/transcription?{ACCOUNT_QUERY}"
    assert record.get("recordingStatusCallback") == f"{PUBLIC}/webhooks/twilio/voice/recording?{ACCOUNT_QUERY}"
    assert record.get("action") == f"{PUBLIC}/webhooks/twilio/voice/voicemail-done?{ACCOUNT_QUERY}"
    conversation = the_call().conversation
    assert RoutingEntry.objects.get(pk=conversation.pk).state == "out_of_hours"

    for _ in range(2):  # Twilio retries each callback
        goodbye = twiml(follow(client, record.get("action", ""), payload("voicemail_done")))
        assert verbs(goodbye) == ["Say", "Hangup"]
        twiml(follow(client, record.get("recordingStatusCallback", ""), payload("recording_completed")))
        twiml(follow(client, record.get("transcribeCallback", ""), payload("transcription")))
        twiml(post(client, "status", payload("status_completed", CallDuration="31")))

    message = the_call()
    assert message.text == payload("transcription")["TranscriptionText"]
    assert message.metadata["recording_url"] == payload("recording_completed")["RecordingUrl"]
    assert message.metadata["recording_sid"] == "RE6c8e0a2b4d6f8a1c3e5b7d9f2a4c6e8b"
    assert message.metadata["recording_duration"] == 14
    assert message.metadata["transcription_status"] == "completed"
    assert message.metadata["duration_seconds"] == 31
    assert Message.objects.filter(kind="call").count() == 1
    # One callback task, for when the queue opens.
    note = Note.objects.get(conversation=conversation)
    assert note.author is None and note.text.startswith(f"Voicemail from {CALLER}")
    assert list(Conversation.objects.get(pk=conversation.pk).tags.values_list("name", flat=True)) == ["callback"]
    assert message.metadata["callback_requested"]["reason"] == "voicemail"
    assert RoutingEntry.objects.get(pk=conversation.pk).state == "out_of_hours"


def test_a_caller_who_hangs_up_in_the_queue_gets_one_callback_task(client: Client,
                                                                    account: ChannelAccount) -> None:
    incoming(client)
    conversation = the_call().conversation
    for _ in range(3):  # the Enqueue action, then the status callback, each retried
        assert verbs(twiml(post(client, "queue-result", payload("queue_result", QueueResult="hangup",
                                                                 QueueTime="95")))) == []
        twiml(post(client, "status", payload("status_completed")))
    assert Note.objects.filter(conversation=conversation).count() == 1
    note = Note.objects.get(conversation=conversation)
    assert note.text == f"Missed call from {CALLER} (hung up after waiting 1 min 35 s in the queue): call them back."
    conv = Conversation.objects.get(pk=conversation.pk)
    assert conv.status == "open" and list(conv.tags.values_list("name", flat=True)) == ["callback"]
    assert the_call().metadata["call_status"] == "completed"
    # Routing hands the task out: the next agent free for a call is offered it.
    carol = f.agent("carol", presence="away")
    do_set_presence(None, carol.agent, "available")  # type: ignore[attr-defined]
    assert RoutingOffer.objects.filter(conversation=conversation, agent=carol, outcome="pending").exists()


def test_a_call_missed_before_the_queue_is_a_callback_task_too(client: Client, account: ChannelAccount) -> None:
    incoming(client)
    twiml(post(client, "status", payload("status_completed", CallStatus="no-answer", CallDuration="0")))
    note = Note.objects.get()
    assert note.text == f"Missed call from {CALLER}: call them back."
    assert the_call().metadata["callback_requested"]["reason"] == "no-answer"


def test_a_call_the_hub_never_answered_is_still_a_missed_call(client: Client, account: ChannelAccount) -> None:
    # The incoming-call webhook never reached the hub (Twilio played its error): only the status arrives.
    twiml(post(client, "status", payload("status_completed", CallDuration="3")))
    message = the_call()
    assert message.metadata["call_status"] == "completed" and message.metadata["duration_seconds"] == 3
    assert Note.objects.get().text == f"Missed call from {CALLER}: call them back."
    assert RoutingEntry.objects.get(pk=message.conversation_id).state == "waiting"


def test_a_callback_can_be_asked_for_by_hand_on_a_resolved_conversation(client: Client,
                                                                         account: ChannelAccount) -> None:
    incoming(client)
    conversation = the_call().conversation
    do_set_status(None, conversation, "resolved")
    assert do_request_callback(conversation.pk, "missed")
    conv = Conversation.objects.get(pk=conversation.pk)
    assert conv.status == "open" and conv.reopen_count == 1
    assert Note.objects.get().text == f"Missed call from {CALLER}: call them back."
    assert RoutingEntry.objects.get(pk=conv.pk).state == "waiting"


def test_a_caller_who_waited_too_long_is_offered_voicemail(client: Client, account: ChannelAccount) -> None:
    account.config = {**account.config, "max_wait_seconds": 60}
    account.save()
    enqueue = incoming(client)[0]
    assert verbs(twiml(follow(client, enqueue.get("waitUrl", ""), payload("queue_wait", QueueTime="45")))) \
        == ["Play"]
    assert verbs(twiml(follow(client, enqueue.get("waitUrl", ""), payload("queue_wait", QueueTime="61")))) \
        == ["Leave"]
    root = twiml(follow(client, enqueue.get("action", ""), payload("queue_result", QueueTime="61")))
    assert verbs(root) == ["Say", "Record", "Say", "Hangup"]


def test_an_agent_who_does_not_pick_up_leaves_the_caller_to_voicemail_and_a_task(client: Client,
                                                                                 account: ChannelAccount) -> None:
    dave = f.agent("dave")
    incoming(client)
    conversation = the_call().conversation
    do_assign(None, conversation, dave)
    root = twiml(post(client, "dial-result", payload("dial_result", DialCallStatus="no-answer",
                                                      DialCallDuration="0"), query={"account": NUMBER,
                                                                                      "agent": "dave"}))
    assert verbs(root) == ["Say", "Record", "Say", "Hangup"]
    twiml(post(client, "voicemail-done", payload("voicemail_done")))
    note = Note.objects.get(conversation=conversation)
    assert note.text.startswith("Voicemail from")
    # Dave has the conversation: the task is his.
    assert Conversation.objects.get(pk=conversation.pk).assignee == dave


def test_a_chinese_caller_hears_chinese(client: Client, account: ChannelAccount) -> None:
    closed_queue()
    root = incoming(client, From="+8613800138000", Caller="+8613800138000", CallerCountry="CN", FromCountry="CN")
    assert root[0].get("language") == "zh-CN"
    assert root[0].text is not None and "留言" in root[0].text


def test_the_account_config_sets_prompt_music_and_queue(client: Client, account: ChannelAccount) -> None:
    account.config = {**account.config, "voicemail_prompt": "Leave a message.", "hold_music_url":
                      "https://cdn.example.com/hold.mp3", "queue_name": "support", "announce_position": False,
                      "voicemail_max_seconds": "not a number"}
    account.save()
    enqueue = incoming(client)[0]
    assert enqueue.text == "support"
    assert verbs(twiml(follow(client, enqueue.get("waitUrl", ""), payload("queue_wait")))) == ["Play"]
    closed_queue()
    # Another caller (the first one's conversation already waits in the open queue).
    root = incoming(client, CallSid="CA11111111111111111111111111111111", From="+14155550199")
    assert root[0].text == "Leave a message." and root[1].get("maxLength") == "120"


# --- idempotency and ordering ---------------------------------------------------------------------------

def test_a_late_or_repeated_event_never_moves_the_call_back_or_wipes_it(client: Client,
                                                                         account: ChannelAccount) -> None:
    incoming(client)
    twiml(post(client, "transcription", payload("transcription")))
    twiml(post(client, "status", payload("status_completed")))
    before = last_change()
    twiml(post(client, "status", payload("status_completed", CallStatus="ringing", CallDuration=None)))
    twiml(post(client, "status", payload("status_completed", CallStatus="in-progress", CallDuration="3")))
    twiml(post(client, "status", payload("status_completed")))
    incoming(client)
    meta = the_call().metadata
    assert meta["call_status"] == "completed" and meta["duration_seconds"] == 236
    assert the_call().text.startswith("Hi, this is Dana")
    assert changes_since(before) == []  # nothing changed, nothing announced


# --- what agents can and cannot do ----------------------------------------------------------------------

def test_a_text_reply_fails_with_a_reason_the_agent_reads(client: Client, account: ChannelAccount) -> None:
    incoming(client)
    reply = do_send_reply(f.agent(), the_call().conversation, "Can I call you back?")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert reply.failure_reason == ("Voice calls cannot carry a text reply; answer on SMS or call the customer "
                                    "back")


# --- requests that are not what they should be ----------------------------------------------------------

def test_a_request_without_a_signature_is_refused(client: Client, account: ChannelAccount) -> None:
    request = signed("/webhooks/twilio/voice", payload("incoming_call"))
    response = call(client, request.__class__(request.path, request.body, {}, request.content_type))
    assert response.status_code == 403 and b"X-Twilio-Signature" in response.content
    assert inbound_count() == 0


def test_another_twilio_account_is_refused(client: Client, account: ChannelAccount) -> None:
    response = post(client, "", payload("incoming_call", AccountSid="AC00000000000000000000000000000000"))
    assert response.status_code == 403 and b"AccountSid" in response.content


def test_an_account_without_credentials_refuses_everything(client: Client, account: ChannelAccount) -> None:
    account.config = {}
    account.save()
    response = post(client, "", payload("incoming_call"))
    assert response.status_code == 403 and b"auth token" in response.content


def test_a_call_to_a_number_the_hub_does_not_have_is_404(client: Client, account: ChannelAccount) -> None:
    response = post(client, "", payload("incoming_call", To="+15005550009", Called="+15005550009"))
    assert response.status_code == 404


@pytest.mark.parametrize(("endpoint", "fixture", "changes"), [
    ("", "incoming_call", {"From": None}),
    ("", "incoming_call", {"CallSid": ""}),
    ("status", "status_completed", {"CallDuration": "nine"}),
    ("status", "status_completed", {"CallDuration": "9" * 400}),
    ("status", "status_completed", {"CallSid": "CA" + "1" * 300}),
    ("wait", "queue_wait", {"QueueTime": "-" * 5}),
    ("queue-result", "queue_result", {"QueueResult": None}),
    ("dial-result", "dial_result", {"DialCallStatus": None}),
    ("voicemail-done", "voicemail_done", {"RecordingUrl": "javascript:alert(1)"}),
    ("recording", "recording_completed", {"RecordingStatus": None, "RecordingUrl": None}),
    ("transcription", "transcription", {"TranscriptionStatus": None}),
    ("agent-status", "agent_answered", {"ParentCallSid": None}),
    ("agent-status", "agent_answered", {"To": "+15005550006"}),
])
def test_malformed_requests_get_400_with_the_reason(client: Client, account: ChannelAccount, endpoint: str,
                                                    fixture: str, changes: dict[str, str | None]) -> None:
    response = post(client, endpoint, payload(fixture, **changes),
                    query={"account": NUMBER} if endpoint == "agent-status" else None)
    assert response.status_code == 400, response.content
    assert len(response.content.strip()) > 10
    assert inbound_count() == 0


@pytest.mark.parametrize(("endpoint", "fixture", "changes"), [
    ("status", "status_completed", {"CallStatus": "teleported"}),
    ("agent-status", "agent_answered", {"CallStatus": "ringing"}),
    ("agent-status", "agent_answered", {"CallStatus": "completed"}),
    ("recording", "recording_completed", {"RecordingStatus": "in-progress"}),
])
def test_events_the_hub_has_no_use_for_are_acknowledged(client: Client, account: ChannelAccount, endpoint: str,
                                                        fixture: str, changes: dict[str, str]) -> None:
    response = post(client, endpoint, payload(fixture, **changes))
    assert verbs(twiml(response)) == []
    assert inbound_count() == 0


def test_a_withheld_number_is_a_caller_of_its_own(client: Client, account: ChannelAccount) -> None:
    assert verbs(incoming(client, From="Anonymous", Caller="Anonymous")) == ["Enqueue"]
    identity = the_call().author_identity
    assert identity is not None and (identity.kind, identity.address) == ("withheld", CALL_SID)
    twiml(post(client, "status", payload("status_completed", CallStatus="no-answer", From="Anonymous")))
    conversation = the_call().conversation
    # Nobody can call a withheld number back: a note says so, and no callback task is made.
    assert Note.objects.get().text == "Missed call from a withheld number: it cannot be called back."
    assert not Conversation.objects.get(pk=conversation.pk).tags.exists()


def test_a_recording_for_a_call_the_hub_never_saw_is_refused(client: Client, account: ChannelAccount) -> None:
    response = post(client, "recording", payload("recording_completed", CallSid="CA" + "7" * 32))
    assert response.status_code == 400
    assert inbound_count() == 0


def test_non_utf8_and_odd_bodies_never_get_a_500(client: Client, account: ChannelAccount) -> None:
    for body in (b"CallSid=\xff\xfe&From=%2B14155550100", b"\x00\x01\x02", b"a=" + b"%" * 50):
        response = client.generic("POST", "/webhooks/twilio/voice", data=body,
                                  content_type="application/x-www-form-urlencoded",
                                  headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
        assert response.status_code in (400, 403, 404), (body, response.status_code)
    assert inbound_count() == 0


def test_a_number_configured_for_get_works_too(client: Client, account: ChannelAccount) -> None:
    response = call(client, signed("/webhooks/twilio/voice", payload("incoming_call"), method="GET"))
    assert verbs(twiml(response)) == ["Enqueue"]
    assert inbound_count() == 1


def test_behind_a_tls_proxy_the_signed_url_is_the_public_one(client: Client, account: ChannelAccount,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://hub.example.com")
    root = incoming(client)  # signed for https://hub.example.com/..., received over plain http
    assert root[0].get("waitUrl", "").startswith("https://hub.example.com/webhooks/twilio/voice/wait?")
    assert inbound_count() == 1
