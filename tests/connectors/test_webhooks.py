"""The webhook pipeline every connector goes through (hub/webhooks.py, hub/actions/inbound.py), checked
with a small connector written for the test, which also runs the shared contract."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from connectors import registry
from connectors.base import (
    AccountInfo,
    Connector,
    DeliveryKey,
    FetchedMedia,
    IdentityEvent,
    InboundAttachment,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    MalformedRequest,
    OutboundMessage,
    PermanentFailure,
    RejectedRequest,
    Sender,
    SendResult,
    TemporaryFailure,
)
from hub import tasks
from hub.actions import ActionError
from hub.actions.outbound import do_send_reply
from hub.connector_port import account_info
from hub.models import Attachment, ChannelAccount, Conversation, Identity, Message, OptOut, WebhookDelivery
from hub.taskqueue import runner
from tests import factories as f
from tests.connectors.contract import ConnectorContract, WebhookCall, call, inbound_count
from tests.connectors.provider import Answer, FakeProvider, Recorded

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.connectors.webhook_urls")]

SECRET = "echo-secret"


class EchoConnector(Connector):
    """JSON events signed with HMAC-SHA256 of the body in X-Echo-Signature, optionally with a delivery id."""

    id = "echo"
    name = "Echo"
    identity_kind = "social"
    default_account_env = {"api_url": "HUB_PUBLIC_URL"}

    def verify(self, account: AccountInfo, request: InboundRequest) -> bool:
        if request.headers.get("x-echo-expired"):
            raise RejectedRequest("timestamp outside the window")
        secret = str(account.config.get("secret", ""))
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        return bool(secret) and hmac.compare_digest(expected, request.headers.get("x-echo-signature", ""))

    def delivery_key(self, account: AccountInfo, request: InboundRequest) -> DeliveryKey | None:
        key = request.headers.get("x-echo-delivery")
        return DeliveryKey(key, replay_protected=bool(request.headers.get("x-echo-nonce"))) if key else None

    def parse(self, account: AccountInfo, request: InboundRequest) -> Sequence[InboundEvent]:
        payload = json.loads(request.body)
        if not isinstance(payload, dict) or "events" not in payload:
            raise MalformedRequest("no events list")
        events: list[InboundEvent] = []
        for item in payload["events"]:
            sender = Sender("social", item["from"], item.get("name", ""))
            if item["type"] == "message":
                events.append(InboundMessage(
                    provider_message_id=item["id"], sender=sender, text=item.get("text", ""),
                    conversation_hint=item.get("hint"),
                    attachments=[InboundAttachment(name="pic.jpg", content_type="image/jpeg", url=u)
                                 for u in item.get("media", [])]))
            elif item["type"] in ("opt_out", "opt_in", "follow", "unfollow"):
                events.append(IdentityEvent(sender=sender, change=item["type"], keyword=item.get("keyword", "")))
        return events

    def send(self, account: AccountInfo, message: OutboundMessage) -> SendResult:
        import urllib.error
        import urllib.request

        body = json.dumps({"to": message.to, "text": message.text}).encode()
        req = urllib.request.Request(str(account.config["api_url"]) + "/v1/send", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as response:
                return SendResult(json.load(response)["id"])
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise TemporaryFailure(f"Echo unavailable (HTTP {exc.code})") from exc
            raise PermanentFailure(f"Echo refused the message (HTTP {exc.code})") from exc

    def fetch_media(self, account: AccountInfo, url: str, max_bytes: int) -> FetchedMedia:
        if "flaky" in url:
            raise TemporaryFailure("media server busy")
        if "gone" in url:
            raise PermanentFailure("media expired")
        data = b"\xff\xd8" + b"x" * (10 if "small" in url else max_bytes + 1)
        return FetchedMedia(data=data, content_type="image/jpeg", name="photo.jpg")


class EchoProvider:
    def __init__(self, server: FakeProvider) -> None:
        self.server = server
        server.route("POST", "/v1/send", lambda r: Answer(200, {"id": f"echo-{len(self.sent())}"}))

    def sent(self) -> list[Recorded]:
        return [r for r in self.server.requests if r.path == "/v1/send"]

    def fail_temporarily(self) -> None:
        self.server.fail_next(Answer(503, {"error": "busy"}))

    def fail_permanently(self) -> None:
        self.server.fail_next(Answer(400, {"error": "bad recipient"}))


@pytest.fixture(autouse=True)
def echo_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[EchoConnector]:
    connector = EchoConnector()
    found = {**registry.connectors(), "echo": connector}
    monkeypatch.setattr(registry, "connectors", lambda: found)
    yield connector


def signed(payload: Any, path: str = "/webhooks/echo/echo-main", secret: str = SECRET,
           **headers: str) -> WebhookCall:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookCall(path, body, {"X-Echo-Signature": signature, **headers})


def message_payload(pid: str = "m1", text: str = "hello", sender: str = "fan_1", **extra: Any) -> dict[str, Any]:
    return {"events": [{"type": "message", "id": pid, "from": sender, "text": text, **extra}]}


class TestEchoContract(ConnectorContract):
    connector_id = "echo"

    @pytest.fixture
    def provider(self) -> Iterator[EchoProvider]:
        server = FakeProvider()
        yield EchoProvider(server)
        server.close()

    @pytest.fixture
    def account(self, provider: EchoProvider) -> ChannelAccount:
        return ChannelAccount.objects.create(channel="echo", name="Echo", address="echo-main",
                                             config={"secret": SECRET, "api_url": provider.server.url})

    def signed_inbound(self, account: ChannelAccount) -> WebhookCall:
        return signed(message_payload())

    def badly_signed(self, account: ChannelAccount) -> WebhookCall:
        return signed(message_payload(), secret="not-the-secret")

    def malformed(self, account: ChannelAccount) -> WebhookCall:
        return signed({"nothing": "here"})

    def unhandled(self, account: ChannelAccount) -> WebhookCall:
        return signed({"events": [{"type": "typing", "from": "fan_1"}]})

    def check_outbound(self, request: Recorded, message: Message, account: ChannelAccount) -> None:
        assert request.json() == {"to": "fan_1", "text": message.text}


@pytest.fixture
def server() -> Iterator[EchoProvider]:
    fake = FakeProvider()
    yield EchoProvider(fake)
    fake.close()


@pytest.fixture
def echo(server: EchoProvider) -> ChannelAccount:
    return ChannelAccount.objects.create(channel="echo", name="Echo", address="echo-main",
                                         config={"secret": SECRET, "api_url": server.server.url})


def test_an_unknown_account_is_404(client: Client, echo: ChannelAccount) -> None:
    response = call(client, signed(message_payload(), path="/webhooks/echo/nobody"))
    assert response.status_code == 404
    assert inbound_count() == 0


def test_the_default_account_answers_routes_that_name_none(client: Client, echo: ChannelAccount) -> None:
    assert call(client, signed(message_payload(), path="/webhooks/echo-default")).status_code == 404
    echo.is_default = True
    echo.save()
    assert call(client, signed(message_payload(), path="/webhooks/echo-default")).status_code == 200
    assert inbound_count() == 1


def test_a_reason_from_verify_is_returned_and_nothing_stored(client: Client, echo: ChannelAccount,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    response = call(client, signed(message_payload(), **{"X-Echo-Expired": "1"}))
    assert response.status_code == 403
    assert b"timestamp outside the window" in response.content
    assert "timestamp outside the window" in caplog.text
    assert inbound_count() == 0


def test_a_repeated_delivery_id_is_acknowledged_without_processing(client: Client, echo: ChannelAccount,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first = signed(message_payload(), **{"X-Echo-Delivery": "ev-1"})
    assert call(client, first).status_code == 200
    assert WebhookDelivery.objects.get(connector="echo", key="ev-1").processed

    def boom(*args: Any) -> None:
        raise AssertionError("a processed delivery must not be parsed again")

    monkeypatch.setattr(EchoConnector, "parse", boom)
    assert call(client, first).status_code == 200
    assert inbound_count() == 1


def test_a_replayed_signature_with_another_body_is_refused(client: Client, echo: ChannelAccount) -> None:
    assert call(client, signed(message_payload(), **{"X-Echo-Delivery": "n-1", "X-Echo-Nonce": "1"})).status_code \
        == 200
    forged = signed(message_payload(pid="m2", text="send me a refund"),
                    **{"X-Echo-Delivery": "n-1", "X-Echo-Nonce": "1"})
    response = call(client, forged)
    assert response.status_code == 403
    assert b"already used" in response.content
    assert inbound_count() == 1


def test_a_delivery_that_failed_midway_is_processed_on_retry(client: Client, echo: ChannelAccount,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    request = signed(message_payload(), **{"X-Echo-Delivery": "ev-9"})
    import hub.webhooks

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection")

    with monkeypatch.context() as m:
        m.setattr(hub.webhooks, "do_receive_events", unavailable)
        response = call(client, request)
    assert response.status_code == 503 and response["Retry-After"]
    assert inbound_count() == 0
    assert call(client, request).status_code == 200
    assert inbound_count() == 1


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", json.dumps({"events": [{"type": "message"}]}).encode(),
                                  "\udcff".encode("utf-8", "surrogatepass")])
def test_unreadable_payloads_get_400_never_500(client: Client, echo: ChannelAccount, body: bytes) -> None:
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.generic("POST", "/webhooks/echo/echo-main", data=body, content_type="application/json",
                              headers={"X-Echo-Signature": signature})
    assert response.status_code == 400
    assert b"malformed" in response.content


def test_an_event_the_hub_refuses_gets_400_and_the_others_are_kept(client: Client, echo: ChannelAccount) -> None:
    payload = {"events": [{"type": "message", "id": "ok-1", "from": "fan_1", "text": "hi"},
                          {"type": "message", "id": "", "from": "fan_2", "text": "no id"}]}
    response = call(client, signed(payload))
    assert response.status_code == 400
    assert b"provider_message_id" in response.content
    assert list(Message.objects.values_list("provider_message_id", flat=True)) == ["ok-1"]


def test_a_content_length_over_the_limit_is_refused_before_reading(client: Client, echo: ChannelAccount,
                                                                   settings: Any) -> None:
    settings.HUB_WEBHOOK_MAX_BYTES = 100
    response = client.generic("POST", "/webhooks/echo/echo-main", data=b"x" * 50, content_type="application/json",
                              headers={"X-Echo-Signature": "x"}, CONTENT_LENGTH="5000")
    assert response.status_code == 413


def test_the_signed_url_is_the_public_url_not_the_host_the_proxy_used(rf: Any, echo: ChannelAccount,
                                                                       settings: Any) -> None:
    from hub.webhooks import inbound_request

    request = rf.post("/webhooks/echo/echo-main?x=1", data=b"{}", content_type="application/json",
                      HTTP_HOST="10.0.0.7:8000")
    req = inbound_request(request, b"{}", "events", {"account": "echo-main"})
    assert req.url == "http://127.0.0.1:8000/webhooks/echo/echo-main?x=1"
    assert req.headers["content-type"] == "application/json"


def test_opt_out_refuses_replies_with_a_reason_until_opt_in(client: Client, echo: ChannelAccount,
                                                             server: EchoProvider) -> None:
    call(client, signed(message_payload()))
    conversation = Conversation.objects.get()
    call(client, signed({"events": [{"type": "opt_out", "from": "fan_1", "keyword": "stop"}]}))
    assert OptOut.objects.filter(channel_account=echo, address="fan_1").exists()
    with pytest.raises(ActionError, match="replied STOP"):
        do_send_reply(f.agent(), conversation, "are you there?")
    # A repeat changes nothing; START lifts it.
    call(client, signed({"events": [{"type": "opt_out", "from": "fan_1", "keyword": "stop"}]}))
    call(client, signed({"events": [{"type": "opt_in", "from": "fan_1", "keyword": "start"}]}))
    reply = do_send_reply(f.agent(), conversation, "welcome back")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT


def test_a_reply_queued_before_the_opt_out_fails_with_the_reason(client: Client, echo: ChannelAccount,
                                                                 server: EchoProvider,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    call(client, signed(message_payload()))
    conversation = Conversation.objects.get()
    monkeypatch.setattr("hub.actions.outbound._enqueue_delivery", lambda message_id: None)
    reply = do_send_reply(f.agent(), conversation, "one more thing")
    call(client, signed({"events": [{"type": "opt_out", "from": "fan_1", "keyword": "STOP"}]}))
    tasks.deliver_message.run(reply.pk)
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and "STOP" in reply.failure_reason
    assert server.sent() == []


def test_follow_and_unfollow_are_kept_on_the_identity(client: Client, echo: ChannelAccount) -> None:
    call(client, signed({"events": [{"type": "follow", "from": "fan_1"}]}))
    assert not Identity.objects.exists()  # a follower who never wrote is nobody yet
    call(client, signed(message_payload()))
    call(client, signed({"events": [{"type": "follow", "from": "fan_1"}]}))
    assert Identity.objects.get(address="fan_1").attributes["following"] is True
    call(client, signed({"events": [{"type": "unfollow", "from": "fan_1"}]}))
    assert Identity.objects.get(address="fan_1").attributes["following"] is False


def test_a_verified_conversation_hint_threads_only_within_the_customer(client: Client,
                                                                       echo: ChannelAccount) -> None:
    call(client, signed(message_payload(pid="a1", sender="fan_1")))
    first = Conversation.objects.get()
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.RESOLVED,
                                                    resolved_at=timezone.now() - timedelta(days=60))
    call(client, signed(message_payload(pid="a2", sender="fan_1")))
    second = Conversation.objects.exclude(pk=first.pk).get()
    Conversation.objects.filter(pk=first.pk).update(status=Conversation.Status.PENDING)
    # Without a hint the newest open conversation continues; with one, the conversation it names.
    call(client, signed(message_payload(pid="a3", sender="fan_1")))
    call(client, signed(message_payload(pid="a4", sender="fan_1", hint=first.pk)))
    assert Message.objects.get(provider_message_id="a3").conversation_id == second.pk
    assert Message.objects.get(provider_message_id="a4").conversation_id == first.pk
    # Someone else naming fan_1's conversation starts their own.
    call(client, signed(message_payload(pid="b1", sender="stranger", hint=first.pk)))
    assert Message.objects.get(provider_message_id="b1").conversation_id not in (first.pk, second.pk)


def test_provider_media_is_fetched_after_commit_with_the_size_cap(client: Client, echo: ChannelAccount) -> None:
    call(client, signed(message_payload(media=["https://media.example/small.jpg", "https://media.example/big.jpg",
                                               "https://media.example/gone.jpg"])))
    message = Message.objects.get()
    attachment = Attachment.objects.get(message=message)
    assert (attachment.name, attachment.content_type, attachment.size) == ("photo.jpg", "image/jpeg", 12)
    reasons = {e["url"].rsplit("/", 1)[1]: e["reason"] for e in message.metadata["attachments_not_stored"]}
    assert reasons == {"big.jpg": "too_large", "gone.jpg": "fetch_failed"}


def test_media_fetch_retries_a_temporary_failure(client: Client, echo: ChannelAccount) -> None:
    call(client, signed(message_payload(media=["https://media.example/flaky.jpg"])))
    message = Message.objects.get()
    assert message.metadata["attachments_not_stored"][0]["reason"] == "pending_fetch"
    assert runner.pending() == 1


def test_the_default_account_takes_its_settings_from_the_environment(echo: ChannelAccount,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://hub.example.com")
    assert account_info(echo).config["api_url"] != "https://hub.example.com"  # not the default account
    echo.is_default = True
    echo.save()
    info = account_info(echo)
    assert info.config["api_url"] == "https://hub.example.com"
    assert info.signing_key and info.signing_key != account_info(
        ChannelAccount.objects.create(channel="echo", name="Other", address="x")).signing_key


def test_in_production_the_webhook_runs_in_the_thread_pool(client: Client, echo: ChannelAccount,
                                                           settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import hub.webhooks

    settings.HUB_WEBHOOKS_IN_THREAD_POOL = True
    threads: list[str] = []
    real = hub.webhooks.do_receive_events

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(hub.webhooks, "do_receive_events", spy)
    assert call(client, signed(message_payload())).status_code == 200
    assert call(client, signed(message_payload())).status_code == 200
    assert inbound_count() == 1
    assert threads and threading.main_thread().name not in threads


def _through_asgi(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> dict[str, Any]:
    from asgiref.sync import async_to_sync
    from channels.testing import HttpCommunicator

    from hub.asgi import application

    pairs = [(k.lower().encode(), v.encode()) for k, v in {"Host": "testserver", **(headers or {})}.items()]
    response: dict[str, Any] = async_to_sync(HttpCommunicator(application, method, path, body, pairs).get_response)()
    response["headers"] = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    return response


def test_under_asgi_a_webhook_is_stored_without_running_the_browser_middleware(echo: ChannelAccount) -> None:
    request = signed(message_payload())
    response = _through_asgi("POST", request.path, request.body,
                             {"Content-Type": "application/json", **request.headers})
    assert response["status"] == 200
    assert inbound_count() == 1
    # What the session, CSRF and clickjacking middleware would have added to the answer.
    assert "x-frame-options" not in response["headers"]
    assert "set-cookie" not in response["headers"] and "cookie" not in response["headers"].get("vary", "").lower()
    again = _through_asgi("POST", request.path, request.body, {"Content-Type": "application/json", **request.headers})
    assert again["status"] == 200 and inbound_count() == 1


def test_under_asgi_bad_webhooks_still_get_their_reasons_and_pages_keep_their_middleware(
        echo: ChannelAccount) -> None:
    forged = signed(message_payload(), secret="not-the-secret")
    refused = _through_asgi("POST", forged.path, forged.body, {"Content-Type": "application/json", **forged.headers})
    assert refused["status"] == 403 and b"signature" in refused["body"]
    huge = _through_asgi("POST", "/webhooks/echo/echo-main", b"{}", {"Content-Type": "application/json",
                                                                   "Content-Length": str(50 * 1024 * 1024)})
    assert huge["status"] == 413
    assert inbound_count() == 0
    page = _through_asgi("GET", "/healthz")
    assert page["status"] == 200 and page["headers"]["x-frame-options"] == "DENY"


def _account_queries(client: Client, request: WebhookCall) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        status = call(client, request).status_code
    return status, sum('"hub_channelaccount"' in q["sql"] for q in queries.captured_queries)


def test_a_webhook_account_is_looked_up_once_for_a_few_seconds(client: Client, echo: ChannelAccount,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.connector_port

    assert _account_queries(client, signed(message_payload("m1"))) == (200, 1)
    assert _account_queries(client, signed(message_payload("m2"))) == (200, 0)
    # Changed by another process (no signal here): seen once the kept copy is older than the setting.
    ChannelAccount.objects.filter(pk=echo.pk).update(active=False)
    assert call(client, signed(message_payload("m3"))).status_code == 200
    later = hub.connector_port.time.monotonic() + 6
    monkeypatch.setattr(hub.connector_port.time, "monotonic", lambda: later)
    assert call(client, signed(message_payload("m4"))).status_code == 404
    assert inbound_count() == 3


def test_saving_an_account_takes_effect_at_once_and_misses_are_not_kept(client: Client,
                                                                        echo: ChannelAccount) -> None:
    assert call(client, signed(message_payload("m1"))).status_code == 200
    echo.config = {**echo.config, "secret": "rotated"}
    echo.save()
    assert call(client, signed(message_payload("m2"))).status_code == 403
    assert call(client, signed(message_payload("m3"), secret="rotated")).status_code == 200
    echo.active = False
    echo.save()
    assert call(client, signed(message_payload("m4"), secret="rotated")).status_code == 404
    other = signed(message_payload("m5"), path="/webhooks/echo/echo-new")
    assert call(client, other).status_code == 404
    ChannelAccount.objects.create(channel="echo", name="New", address="echo-new", config={"secret": SECRET})
    assert call(client, other).status_code == 200
    assert inbound_count() == 3


def test_under_asgi_pages_run_their_middleware_and_view_in_one_hop(echo: ChannelAccount,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from asgiref.sync import SyncToAsync

    hops: list[str] = []
    real_init = SyncToAsync.__init__

    def counting(self: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        hops.append(getattr(func, "__qualname__", repr(func)))
        real_init(self, func, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__init__", counting)
    page = _through_asgi("GET", "/login/")
    assert page["status"] == 200
    assert "csrftoken=" in page["headers"].get("set-cookie", "")  # the CSRF middleware ran
    assert page["headers"]["x-frame-options"] == "DENY"
    # Django's request_started and request_finished signals, and the chain with the view: not a hop per
    # middleware hook (fifteen more).
    assert len(hops) <= 4, hops


def test_a_kept_account_forgets_a_deleted_team(client: Client, echo: ChannelAccount) -> None:
    from hub.models import Team

    team = Team.objects.create(name="Social desk")
    echo.team = team
    echo.save()
    assert call(client, signed(message_payload("m1", sender="fan_1"))).status_code == 200
    team.delete()
    assert call(client, signed(message_payload("m2", sender="fan_2"))).status_code == 200
    assert Conversation.objects.get(customer__identities__address="fan_2").team_id is None
