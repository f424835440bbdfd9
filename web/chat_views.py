"""The chat widget's HTTP side: the script itself (/widget.js), the demo page (/demo/), uploads from visitors
(/chat/upload/) and visitors' links to attachments (/chat/attachments/<id>/). docs/chat.md describes them.

Uploads and attachment links are called from the embedding sites: they authenticate with the visitor's
signed token (or a signed link), never a cookie, and answer CORS only to the origins the account allows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from connectors.webchat import files, tokens
from hub.api.views.attachments import attachment_response
from hub.connector_port import account_info
from hub.models import ChannelAccount
from web import chat_limits
from web.chat_state import Widget, visitor_attachment, widget

WIDGET_JS = Path(__file__).resolve().parent / "static" / "web" / "widget.js"
UPLOAD_DIR = "webchat-uploads"


@cache
def _widget_source() -> bytes:
    return WIDGET_JS.read_bytes()


@require_safe
def widget_script(request: HttpRequest) -> HttpResponse:
    """The one script a site embeds. It reads the hub's address from its own src."""
    body = WIDGET_JS.read_bytes() if settings.DEBUG else _widget_source()
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"  # public code; lets a site load it with crossorigin
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@require_safe
def demo(request: HttpRequest) -> HttpResponse:
    """A made-up company's page that embeds the default widget account exactly as a customer's site would."""
    account = ChannelAccount.objects.filter(channel="webchat", is_default=True, active=True).first()
    return render(request, "web/demo.html", {
        "account_key": account.address if account else "",
        "widget_src": request.build_absolute_uri(reverse("chat-widget")),
    })


def _same_site(request: HttpRequest, origin: str) -> bool:
    return origin.split("://", 1)[-1].lower() == request.get_host().lower()


def _origin_ok(request: HttpRequest, w: Widget, origin: str) -> bool:
    return w.settings.origin_allowed(origin) or (w.account.is_default and bool(origin) and _same_site(request, origin))


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


def _error(status: int, code: str, reason: str, origin: str = "", **extra: object) -> HttpResponse:
    response = JsonResponse({"error": code, "reason": reason, **extra}, status=status)
    return _cors(response, origin) if origin else response


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


@csrf_exempt  # no cookie authenticates this view: the visitor token does, and the origin is checked
def upload(request: HttpRequest) -> HttpResponse:
    """Store one image or PDF for the visitor's next message; answers a signed reference to put in it."""
    origin = request.headers.get("Origin", "")
    key = request.GET.get("account") or request.POST.get("account", "")
    w = widget(key)
    if w is None:
        return _error(404, "unknown_account", "no chat account has this key")
    if not _origin_ok(request, w, origin):
        return _error(403, "origin_refused", "this site may not use this chat")
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    if request.method != "POST":
        return _error(405, "method_not_allowed", "POST a file", origin)
    visitor = tokens.read_visitor_token(w.info.signing_key, w.account.pk, request.POST.get("token", ""))
    if visitor is None:
        return _error(401, "bad_token", "this visitor token is not valid here", origin)
    limits = w.settings.limits
    retry = (chat_limits.hit("upload-visitor", visitor, limits["visitor_uploads_per_minute"])
             or chat_limits.hit("upload-ip", _client_ip(request), limits["ip_uploads_per_minute"]))
    if retry:
        return _error(429, "rate_limited", "too many files; wait a moment", origin, retry_after=retry)
    upload_file = request.FILES.get("file")
    if upload_file is None:
        return _error(400, "no_file", "send the file in the `file` field", origin)
    cap = w.settings.max_attachment_bytes
    if upload_file.size is None or upload_file.size > cap:
        return _error(413, "too_large", f"files are limited to {cap} bytes", origin, limit=cap)
    data = upload_file.read(cap + 1)
    if len(data) > cap:
        return _error(413, "too_large", f"files are limited to {cap} bytes", origin, limit=cap)
    content_type = files.sniff(data[:16])
    if content_type is None:
        return _error(415, "unsupported_type", "only images (PNG, JPEG, GIF, WebP) and PDF files", origin)
    name = files.clean_name(upload_file.name or "", content_type)
    path = default_storage.save(f"{UPLOAD_DIR}/{uuid.uuid4().hex}", ContentFile(data))
    ref = tokens.sign_upload(w.info.signing_key, tokens.UploadRef(visitor, path, name, content_type, len(data)))
    return _cors(JsonResponse({"upload": ref, "name": name, "content_type": content_type, "size": len(data)},
                              status=201), origin)


@require_safe
def attachment(request: HttpRequest, account: int, pk: int) -> FileResponse:
    """A file of the visitor's chat, through the signed link the chat socket handed out."""
    found = None
    stored = ChannelAccount.objects.filter(pk=account, channel="webchat", active=True).first()
    if stored is not None:
        signed = tokens.read_attachment(account_info(stored).signing_key, request.GET.get("sig", ""))
        if signed is not None and signed[1] == pk:
            found = visitor_attachment(signed[0], pk)
    if found is None:
        raise Http404("No such file")
    response = attachment_response(found, inline_media=True)
    response["Cross-Origin-Resource-Policy"] = "cross-origin"  # shown inside the widget on the customer's site
    response["Cache-Control"] = "private, max-age=3600"
    return response


def prune_uploads(now: dt.datetime | None = None) -> int:
    """Delete uploads that were never sent with a message. Their references expire after
    tokens.UPLOAD_MAX_AGE_SECONDS, so an older file can no longer be attached to anything (a sent one was
    already moved into the message's attachments). Runs hourly (hub/tasks.py). Returns how many went."""
    try:
        _, names = default_storage.listdir(UPLOAD_DIR)
    except FileNotFoundError:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=tokens.UPLOAD_MAX_AGE_SECONDS + 3600)
    removed = 0
    for name in names:
        path = f"{UPLOAD_DIR}/{name}"
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
                removed += 1
        except OSError:  # gone meanwhile (another process pruned it, or it was just sent)
            continue
    return removed

