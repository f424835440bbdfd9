"""The search backend the hub speaks to (issue: search). This module holds the interface and the health
probe `/readyz` uses; the engines live beside it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


def backend_name() -> str:
    return "elasticsearch" if settings.ELASTICSEARCH_URL else "embedded"


def index_dir() -> Path:
    return Path(settings.DATA_DIR) / "search"


def health(timeout: float = 2.0) -> Health:
    if settings.ELASTICSEARCH_URL:
        url = settings.ELASTICSEARCH_URL.rstrip("/") + "/_cluster/health"
        if not url.startswith(("http://", "https://")):
            return Health(False, "HUB_ELASTICSEARCH_URL must be an http(s) URL")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
                status = json.load(resp).get("status", "unknown")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return Health(False, f"elasticsearch unreachable: {exc}")
        return Health(status in ("green", "yellow"), f"elasticsearch cluster {status}")
    path = index_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".ready"
        probe.write_text("ok")
    except OSError as exc:
        return Health(False, f"embedded index folder not writable: {exc}")
    return Health(True, f"embedded index at {path}")
