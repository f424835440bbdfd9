"""Shared pieces of the Weibo connector's tests (no tests here): the platform's signing, its documented
push payloads, and a local server answering like the platform's reply APIs."""

# Chinese text keeps its full-width punctuation: that is what these tests are about.

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hub.models import ChannelAccount
from tests.connectors.contract import WebhookCall
from tests.connectors.provider import Answer, FakeProvider, Recorded

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "weibo"
SECRET = "f4a3c9e1d2b8a7c6e5f4a3b2c1d0e9f8"
TOKEN = "2.00ImKlxB0Wpu7Dtest-token"
ACCOUNT_UID = "1902538057"
CUSTOMER_UID = "2489518277"
POST_ID = "3515162979011010"
REPLY_PATHS = ("/2/messages/reply.json", "/2/comments/reply.json", "/2/comments/create.json")
RATE_LIMITED = Answer(403, {"request": "/2/messages/reply.json", "error_code": "10023",
                            "error": "User requests out of rate limit!"})


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def body_of(payload: dict[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def platform_signature(secret: str, timestamp: str, nonce: str) -> str:
    """The platform's documented algorithm: sort app secret, timestamp and nonce, join, sha1, hex."""
    return hashlib.sha1("".join(sorted([secret, timestamp, nonce])).encode()).hexdigest()


def push(payload: dict[str, Any] | bytes, *, secret: str = SECRET, timestamp: int | str | None = None,
         nonce: str | None = None, path: str = "/webhooks/weibo", signature: str | None = None,
         query: dict[str, str] | None = None) -> WebhookCall:
    """A push as the platform sends it: the JSON body, signature/timestamp/nonce in the query string."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**8))
    params = {"signature": signature or platform_signature(secret, ts, nonce), "timestamp": ts, "nonce": nonce}
    if query is not None:
        params = query
    return WebhookCall(f"{path}?{urlencode(params)}", body_of(payload))


def handshake(echostr: str, *, secret: str = SECRET, path: str = "/webhooks/weibo") -> WebhookCall:
    ts, nonce = str(int(time.time() * 1000)), str(secrets.randbelow(10**8))
    query = urlencode({"signature": platform_signature(secret, ts, nonce), "timestamp": ts, "nonce": nonce,
                       "echostr": echostr})
    return WebhookCall(f"{path}?{query}", b"", method="GET")


def comment_payload(comment_id: str = "3515170380984186", *, sender: str = CUSTOMER_UID, name: str = "小明同学",
                    post_id: str = POST_ID, text: str = "请问这款耳机什么时候补货？",
                    reply_to: str | None = None) -> dict[str, Any]:
    payload = fixture("comment.json")
    comment = payload["text"]["comment"]
    comment.update(id=int(comment_id), mid=comment_id, text=text,
                   user={**comment["user"], "id": int(sender), "screen_name": name, "name": name})
    comment["status"]["id"] = int(post_id)
    comment["status"]["mid"] = post_id
    if reply_to:
        comment["reply_comment"] = {"id": int(reply_to), "text": "回复", "user": {"id": int(ACCOUNT_UID)}}
    return payload


def dm_payload(text: str, *, sender: str = CUSTOMER_UID, created_at: str = "Mon Jul 16 18:09:20 +0800 2012",
               **extra: Any) -> dict[str, Any]:
    return {**fixture("dm_text.json"), "sender_id": int(sender), "text": text, "created_at": created_at, **extra}


def weibo_account(api_base: str, **config: Any) -> ChannelAccount:
    return ChannelAccount.objects.create(
        channel="social", name="客服小微", address=ACCOUNT_UID,
        config={"app_key": "211160679", "app_secret": SECRET, "access_token": TOKEN, "api_base": api_base,
                **config})


class WeiboProvider:
    """The platform's reply APIs, as documented: messages/reply.json (form: access_token, receiver_id,
    type, data), comments/reply.json (cid, id, comment) and comments/create.json (id, comment) answering the
    new comment object, comments/show_batch.json, and mss/msget for private-message media. Errors are
    answered the platform's way: `{"request", "error_code", "error"}`."""

    def __init__(self, server: FakeProvider) -> None:
        self.server = server
        self.url = server.url
        self.comments: dict[str, str] = {}  # comment id -> post id, for show_batch
        self.media: dict[str, tuple[bytes, str]] = {}
        self.reset()
        server.route("POST", r"/2/messages/reply\.json", self._private)
        server.route("POST", r"/2/comments/reply\.json", self._comment_reply)
        server.route("POST", r"/2/comments/create\.json", self._comment_create)
        server.route("GET", r"/2/comments/show_batch\.json", self._show_batch)
        server.route("GET", r"/2/mss/msget", self._media)

    def reset(self) -> None:
        """Back to a fresh platform (one server serves a whole test module: starting one costs little,
        stopping one half a second)."""
        with self.server._lock:
            self.server.requests.clear()
            self.server._failures.clear()
        self.comments.clear()
        self.media.clear()
        self.media["821804469"] = (b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg")
        self._ids = itertools.count(4100000000000001)

    # --- ProviderDouble -------------------------------------------------------------------------------

    def sent(self) -> list[Recorded]:
        return [r for r in self.server.requests if r.path in REPLY_PATHS]

    def fail_temporarily(self) -> None:
        self.server.fail_next(RATE_LIMITED)

    def fail_permanently(self) -> None:
        self.server.fail_next(Answer(400, {"request": "/2/messages/reply.json", "error_code": "20003",
                                           "error": "User does not exists!"}))

    # --- the platform's answers ------------------------------------------------------------------------

    @staticmethod
    def _refused(request: Recorded, token: list[str] | None) -> Answer | None:
        if token != [TOKEN]:
            return Answer(403, {"request": request.path, "error_code": "21332", "error": "invalid_access_token"})
        return None

    def _private(self, request: Recorded) -> Answer:
        form = request.form()
        refused = self._refused(request, form.get("access_token"))
        if refused:
            return refused
        if form.get("type") != ["text"] or not form.get("receiver_id") or "text" not in json.loads(form["data"][0]):
            return Answer(400, {"request": request.path, "error_code": "10008", "error": "Param error"})
        return Answer(200, {"result": True, "sender_id": ACCOUNT_UID, "receiver_id": form["receiver_id"][0],
                            "type": "text", "data": form["data"][0]})

    def _comment(self, post_id: str, text: str, reply_to: str | None = None) -> dict[str, Any]:
        new_id = next(self._ids)
        self.comments[str(new_id)] = post_id
        comment: dict[str, Any] = {
            "created_at": "Wed Jun 01 00:50:25 +0800 2011", "id": new_id, "idstr": str(new_id), "mid": str(new_id),
            "text": text, "user": {"id": int(ACCOUNT_UID), "screen_name": "客服小微"},
            "status": {"id": int(post_id), "idstr": post_id}}
        if reply_to:
            comment["reply_comment"] = {"id": int(reply_to), "idstr": reply_to}
        return comment

    def _comment_reply(self, request: Recorded) -> Answer:
        form = request.form()
        refused = self._refused(request, form.get("access_token"))
        if refused:
            return refused
        if not (form.get("cid") and form.get("id") and form.get("comment")):
            return Answer(400, {"request": request.path, "error_code": "10016",
                                "error": "Miss required parameter (cid, id or comment)"})
        return Answer(200, self._comment(form["id"][0], form["comment"][0], form["cid"][0]))

    def _comment_create(self, request: Recorded) -> Answer:
        form = request.form()
        refused = self._refused(request, form.get("access_token"))
        if refused:
            return refused
        if not (form.get("id") and form.get("comment")):
            return Answer(400, {"request": request.path, "error_code": "10016",
                                "error": "Miss required parameter (id or comment)"})
        return Answer(200, self._comment(form["id"][0], form["comment"][0]))

    def _show_batch(self, request: Recorded) -> Answer:
        refused = self._refused(request, request.query.get("access_token"))
        if refused:
            return refused
        cids = request.query.get("cids", [""])[0].split(",")
        return Answer(200, [{"id": int(c), "idstr": c, "text": "…", "status": {"id": int(p), "idstr": p}}
                            for c in cids if (p := self.comments.get(c))])

    def _media(self, request: Recorded) -> Answer:
        refused = self._refused(request, request.query.get("access_token"))
        if refused:
            return refused
        fid = request.query.get("fid", [""])[0]
        if fid not in self.media:
            return Answer(404, {"request": request.path, "error_code": "20401", "error": "file not found"})
        data, content_type = self.media[fid]
        return Answer(200, data, {"Content-Type": content_type})


def serve_platform() -> Iterator[WeiboProvider]:
    """For a module-scoped fixture: one local platform per test module."""
    server = FakeProvider()
    try:
        yield WeiboProvider(server)
    finally:
        server.close()
