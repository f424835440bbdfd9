"""`/ws/chat/`: a chat visitor's socket (docs/chat.md).

Connect with `?account=KEY[&token=T][&last_seq=N]`. The handshake's Origin must be one the account allows;
the visitor is whoever the signed token names (a new visitor, with a new token, when there is none). What
the visitor receives is read from the change log of their conversations (web/chat_state.py): the sequence
number of a frame is its change number, so resuming with `last_seq` sends exactly what was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.core.files.storage import default_storage

from connectors.base import InboundAttachment
from connectors.webchat import tokens
from connectors.webchat.settings import email_verified
from hub.actions import ActionError
from hub.events import pusher
from hub.events.publish import conversation_audience, conversation_group
from web import chat_limits
from web.chat_state import Widget, project, queue_state, visitor_state, widget
from web.consumers import JsonSocket

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_BAD_TOKEN = 4401
CLOSE_ORIGIN = 4403
CLOSE_NO_ACCOUNT = 4404
CLOSE_TOO_MANY = 4429

MAX_UPLOADS_PER_MESSAGE = 5
QUEUE_REFRESH_SECONDS = 15.0
# A visitor typing sends "typing: true" at most this often to the agents (the widget sends it per key).
TYPING_REPEAT_SECONDS = 3.0


@dataclass
class Refusal:
    code: int
    reason: str
    error: str


@database_sync_to_async
def _open(key: str, origin: str, host: str, ip: str) -> Widget | Refusal:
    w = widget(key)
    if w is None:
        return Refusal(CLOSE_NO_ACCOUNT, "no chat account has this key", "unknown_account")
    same_site = bool(host) and origin.split("://", 1)[-1].lower() == host.lower()
    if not (w.settings.origin_allowed(origin) or (w.account.is_default and same_site)):
        return Refusal(CLOSE_ORIGIN, f"this site ({origin or 'no origin'}) may not use this chat", "origin_refused")
    retry = chat_limits.hit("connect-ip", ip, w.settings.limits["ip_connections_per_minute"])
    if retry:
        return Refusal(CLOSE_TOO_MANY, "too many connections from this address; try again in a minute",
                       "rate_limited")
    return w


class ChatConsumer(JsonSocket):
    w: Widget
    visitor_id: str
    token: str
    customer_id: int | None
    name: str
    identified: bool
    conversations: list[int]
    last_sent: int
    ip: str
    _ticker: asyncio.Task[None] | None = None
    _typing_sent: tuple[bool, float] = (False, 0.0)

    async def connect(self) -> None:
        query = {k: v[0] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items() if v}
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope.get("headers", [])}
        client = self.scope.get("client") or ("", 0)
        self.ip = str(client[0] or "unknown")
        opened = await _open(query.get("account", ""), headers.get("origin", ""), headers.get("host", ""), self.ip)
        if isinstance(opened, Refusal):
            await self._refuse(opened.code, opened.error, opened.reason)
            return
        self.w = opened
        raw = query.get("last_seq", "")
        try:
            after = int(raw) if raw else 0
            if after < 0:
                raise ValueError
        except ValueError:
            await self._refuse(CLOSE_BAD_REQUEST, "bad_request", "last_seq must be a whole number")
            return
        given = query.get("token", "")
        if given:
            visitor = tokens.read_visitor_token(self.w.info.signing_key, self.w.account.pk, given)
            if visitor is None:
                # The widget forgets the token and starts as a new visitor.
                await self._refuse(CLOSE_BAD_TOKEN, "bad_token", "this visitor token is not valid here")
                return
            self.visitor_id, self.token = visitor, given
        else:
            self.visitor_id = tokens.new_visitor_id()
            self.token = tokens.issue_visitor_token(self.w.info.signing_key, self.w.account.pk, self.visitor_id)
        pusher.adopt_running_loop()
        self.conversations = []
        await self._load_visitor()  # joins the groups before the backlog is read: nothing falls in between
        await self.accept()
        self.last_sent = after
        await self.send_json({
            "type": "hello", "token": self.token, "visitor_id": self.visitor_id, "resumed": bool(raw),
            "name": self.name, "prechat": self.w.settings.prechat and not self.identified,
            "max_message_chars": self.w.settings.max_message_chars,
            "max_attachment_bytes": self.w.settings.max_attachment_bytes,
        })
        await self._catch_up()
        await self._send_queue()
        self._ticker = asyncio.ensure_future(self._tick())

    async def _refuse(self, code: int, error: str, reason: str) -> None:
        # Accept first so that the browser sees the code and the reason (a refused handshake is only 1006).
        await self.accept()
        await self.send_json({"type": "error", "code": error, "reason": reason})
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for conv_id in getattr(self, "conversations", []):
            await self.channel_layer.group_discard(conversation_group(conv_id), self.channel_name)

    async def _load_visitor(self) -> None:
        state = await database_sync_to_async(visitor_state)(self.w.account, self.visitor_id)
        self.customer_id, self.name, self.identified = state.customer_id, state.name, state.identified
        for conv_id in state.conversation_ids:
            if conv_id not in self.conversations:
                await self.channel_layer.group_add(conversation_group(conv_id), self.channel_name)
        for conv_id in self.conversations:
            if conv_id not in state.conversation_ids:
                await self.channel_layer.group_discard(conversation_group(conv_id), self.channel_name)
        self.conversations = state.conversation_ids

    @property
    def current(self) -> int | None:
        return self.conversations[-1] if self.conversations else None

    async def _catch_up(self) -> None:
        frames, last = await database_sync_to_async(project)(self.w, self.visitor_id, self.conversations,
                                                             self.last_sent)
        for frame in frames:
            await self.send_json(frame)
        self.last_sent = max(self.last_sent, last)

    async def _send_queue(self, *, fresh: bool = True) -> None:
        """Where the chat stands. `fresh=False` (the periodic refresh, a change to the conversation) may read
        routing's state of a moment ago, shared by every visitor of this process (web/chat_state.py)."""
        try:
            state = await database_sync_to_async(queue_state)(self.w.account, self.current, fresh=fresh)
        except Exception:  # the queue line is a courtesy: never let it break the chat
            logger.exception("queue state for conversation %s failed", self.current)
            return
        await self.send_json(state)

    async def _tick(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(QUEUE_REFRESH_SECONDS)
                await self._send_queue(fresh=False)

    # --- pushed by the hub ---------------------------------------------------------------------------------

    async def chat_changed(self, message: dict[str, Any]) -> None:
        """A conversation of this visitor changed (hub/events/publish.py): read what they may see."""
        await self._catch_up()
        await self._send_queue(fresh=False)

    async def chat_typing(self, message: dict[str, Any]) -> None:
        """An agent typing in one of this visitor's conversations (sent by the inbox's AgentConsumer)."""
        await self.send_json({"type": "typing", "name": str(message.get("name") or ""),
                              "typing": bool(message.get("typing"))})

    # --- from the widget -----------------------------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        handler = {
            "ping": self._ping, "message": self._message, "typing": self._typing, "receipt": self._receipt,
            "identify": self._identify, "leave": self._leave, "rate": self._rate, "queue": self._queue,
        }.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self.send_json({"type": "error", "code": "bad_request", "reason": f"unknown message type {kind!r}"})
            return
        try:
            await handler(content)
        except ActionError as exc:
            await self.send_json({"type": "error", "code": "refused", "reason": str(exc),
                                  **({"client_id": content["client_id"]} if isinstance(content.get("client_id"), str)
                                     else {})})

    async def _ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "seq": self.last_sent})

    async def _queue(self, content: dict[str, Any]) -> None:
        await self._send_queue()

    def _limited(self, kind: str) -> int:
        limits = self.w.settings.limits
        return (chat_limits.hit(f"{kind}-visitor", self.visitor_id, limits[f"visitor_{kind}s_per_minute"])
                or chat_limits.hit(f"{kind}-ip", self.ip, limits[f"ip_{kind}s_per_minute"]))

    async def _check_text(self, content: dict[str, Any], client_id: str, *, required: bool) -> str | None:
        text = content.get("text", "")
        if not isinstance(text, str):
            raise ActionError("text must be a string", field="text")
        cap = self.w.settings.max_message_chars
        if len(text) > cap:
            await self.send_json({"type": "error", "code": "too_long", "client_id": client_id, "limit": cap,
                                  "reason": f"messages are limited to {cap} characters"})
            return None
        if required and not text.strip():
            raise ActionError("a message needs text", field="text")
        return text

    async def _rate_limited(self, client_id: str) -> bool:
        retry = await database_sync_to_async(self._limited)("message")
        if retry:
            await self.send_json({"type": "error", "code": "rate_limited", "client_id": client_id,
                                  "retry_after": retry, "reason": "too many messages; wait a moment"})
        return bool(retry)

    async def _message(self, content: dict[str, Any]) -> None:
        from hub.actions.webchat import check_client_id

        client_id = check_client_id(content.get("client_id"))
        text = await self._check_text(content, client_id, required=False)
        if text is None:
            return
        refs = content.get("uploads") or []
        if not isinstance(refs, list) or len(refs) > MAX_UPLOADS_PER_MESSAGE \
                or not all(isinstance(r, str) for r in refs):
            raise ActionError(f"uploads must be a list of at most {MAX_UPLOADS_PER_MESSAGE} references",
                              field="uploads")
        stored = await database_sync_to_async(self._stored_message)(client_id)
        if stored is None:
            if await self._rate_limited(client_id):
                return
            stored = await database_sync_to_async(self._store_message)(client_id, text, refs)
        await self.send_json({"type": "ack", "client_id": client_id, "message_id": stored[0],
                              "conversation_id": stored[1]})
        await self._after_write()

    def _stored_message(self, client_id: str) -> tuple[int, int] | None:
        """The message already stored for this client id (a resend after a reconnect): acknowledged again,
        not counted against the rate limit."""
        from hub.actions.webchat import visitor_message_key
        from hub.models import Message

        row = (Message.objects.filter(channel_account=self.w.account,
                                      provider_message_id=visitor_message_key(self.visitor_id, client_id))
               .values_list("pk", "conversation_id").first())
        return (int(row[0]), int(row[1])) if row else None

    def _store_message(self, client_id: str, text: str, refs: list[str]) -> tuple[int, int]:
        from hub.actions.webchat import do_visitor_message

        attachments = []
        paths = []
        for value in refs:
            ref = tokens.read_upload(self.w.info.signing_key, self.visitor_id, value)
            if ref is None:
                raise ActionError("this file upload is not valid (or has expired): upload it again", field="uploads")
            try:
                with default_storage.open(ref.path, "rb") as fh:
                    data = fh.read()
            except (FileNotFoundError, OSError) as exc:
                raise ActionError("this file upload is gone: upload it again", field="uploads") from exc
            attachments.append(InboundAttachment(name=ref.name, content_type=ref.content_type, data=data))
            paths.append(ref.path)
        result = do_visitor_message(self.w.account, self.visitor_id, client_id, text, attachments, name=self.name)
        for path in paths:
            with contextlib.suppress(OSError):
                default_storage.delete(path)  # stored with the message now
        return result.message.pk, result.message.conversation_id

    async def _after_write(self) -> None:
        """A write may have created a conversation (or moved the visitor to another customer): follow the
        visitor's conversations again, then send what changed."""
        before = self.current
        await self._load_visitor()
        await self._catch_up()
        if self.current != before:
            await self._send_queue()

    async def _typing(self, content: dict[str, Any]) -> None:
        typing = bool(content.get("typing"))
        conv_id = self.current
        if conv_id is None:
            return
        state, at = self._typing_sent
        now = time.monotonic()
        if typing == state and (not typing or now - at < TYPING_REPEAT_SECONDS):
            return
        self._typing_sent = (typing, now)
        groups = await database_sync_to_async(self._audience_groups)(conv_id)
        # The nonce lets an agent reached through several of these groups (a supervisor in the conversation's
        # team) show it once (web/consumers.py hub_typing).
        event = {"type": "hub.typing", "conversation_id": conv_id, "who": "customer",
                 "name": self.name or "", "typing": typing, "nonce": secrets.token_hex(8)}
        for group in groups:
            await self.channel_layer.group_send(group, event)

    @staticmethod
    def _audience_groups(conversation_id: int) -> list[str]:
        from hub.models import Conversation

        conv = Conversation.objects.filter(pk=conversation_id).first()
        return sorted(conversation_audience(conv).groups) if conv is not None else []

    async def _receipt(self, content: dict[str, Any]) -> None:
        from hub.actions.webchat import do_visitor_receipt

        message_id = content.get("message_id")
        if isinstance(message_id, bool) or not isinstance(message_id, int) or self.customer_id is None:
            raise ActionError("message_id must be the id of a message in this chat", field="message_id")
        await database_sync_to_async(do_visitor_receipt)(self.w.account, self.customer_id, message_id,
                                                          str(content.get("status", "")))

    async def _identify(self, content: dict[str, Any]) -> None:
        from hub.actions.webchat import do_identify_visitor

        name, email, given_hash = (content.get(k, "") for k in ("name", "email", "email_hash"))
        if not all(isinstance(v, str) for v in (name, email, given_hash)):
            raise ActionError("name, email and email_hash must be strings")
        if len(name) > 200 or len(email) > 320 or len(given_hash) > 128:
            raise ActionError("name or email is too long")
        verified = email_verified(self.w.settings, email, given_hash)
        if given_hash and not verified:
            logger.info("web chat visitor %s: email hash does not verify", self.visitor_id)
        identity = await database_sync_to_async(do_identify_visitor)(self.w.account, self.visitor_id, name=name,
                                                                     email=email, verified=verified)
        await self.send_json({"type": "identified", "name": identity.display_name, "email_verified": verified})
        await self._after_write()

    async def _leave(self, content: dict[str, Any]) -> None:
        from hub.actions.webchat import check_client_id, do_leave_message

        client_id = check_client_id(content.get("client_id"))
        text = await self._check_text(content, client_id, required=True)
        if text is None:
            return
        name, email = content.get("name", ""), content.get("email", "")
        if not isinstance(name, str) or not isinstance(email, str) or len(name) > 200 or len(email) > 320:
            raise ActionError("name and email must be short strings")
        if await self._rate_limited(client_id):
            return
        channel, _ = await database_sync_to_async(do_leave_message)(
            self.w.account, self.visitor_id, client_id, text, name=name or self.name, email=email)
        await self.send_json({"type": "left", "client_id": client_id, "channel": channel})
        await self._after_write()

    async def _rate(self, content: dict[str, Any]) -> None:
        from hub.actions.feedback import do_rate
        from hub.models import Conversation

        conv_id = content.get("conversation_id")
        if isinstance(conv_id, bool) or not isinstance(conv_id, int) or conv_id not in self.conversations:
            raise ActionError("conversation_id must be one of this visitor's chats", field="conversation_id")
        conv = await database_sync_to_async(Conversation.objects.get)(pk=conv_id)
        await database_sync_to_async(do_rate)(conv, content.get("score"), content.get("comment", ""))
        await self._catch_up()
