"""What the page tests share: a signed-in client and the JSON a page hands its script."""

from __future__ import annotations

import json
import re
from typing import Any

from django.test import Client


def signed_in(user: Any, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def json_block(body: str, element_id: str) -> Any:
    """The content of the page's `json_script` block `element_id`."""
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', body, re.S)
    assert match, f"no json_script block {element_id}"
    return json.loads(match.group(1))
