"""Browser tests: Playwright driving Debian's Chromium against a real `hub up` in a child process, on its
own data folder with the embedded defaults (SQLite file, in-memory layer, in-process tasks).

The hub is started once per session and shared; each test creates its own agents, customers and accounts
with names of its own, so tests do not see each other's data where it matters. `hub.run(code, **params)`
runs Python inside the hub's environment (tests/browser/remote.py) to seed data and read state back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_service
from tests.hubprocess import REPO, HubProcess, free_port

CHROMIUM = "/usr/bin/chromium"
TWILIO_TOKEN = "browser-test-twilio-token"
TWILIO_SID = "AC" + "0" * 32
SMS_NUMBER = "+15005550006"
WEBCHAT_KEY = "browser-test-site"


@dataclass
class BrowserHub:
    process: HubProcess
    data_dir: Path

    @property
    def url(self) -> str:
        return self.process.url

    def run(self, code: str, **params: Any) -> Any:
        """Run `code` with Django set up on this hub's database; returns the JSON of its `result`."""
        done = subprocess.run(
            [sys.executable, "-m", "tests.browser.remote"], cwd=REPO, env=self.process.env, text=True,
            input=json.dumps({"code": textwrap.dedent(code), "params": params}), capture_output=True,
            timeout=60, check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"remote code failed:\n{done.stderr}\n--- hub ---\n{self.process.output[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def agent(self, *, role: str = "agent", team: str = "",
              channels: dict[str, int] | None = None) -> tuple[str, str, int]:
        """A new agent of its own (username, password, user id)."""
        username = f"agent-{uuid.uuid4().hex[:8]}"
        password = f"pw-{uuid.uuid4().hex}"
        user_id = self.run("""
            from hub.actions.agents import do_create_agent
            p = params
            user = do_create_agent(p["username"], password=p["password"], display_name=p["username"].title(),
                                   role=p["role"], teams=[p["team"]] if p["team"] else [])
            profile = user.agent
            if p["channels"]:
                profile.capacity = {**(profile.capacity or {}), **p["channels"]}
                profile.save(update_fields=["capacity"])
            result = profile.user_id
        """, username=username, password=password, role=role, team=team, channels=channels or {})
        return username, password, int(user_id)


    def sms(self, sender: str, body: str, *, to: str = SMS_NUMBER, token: str = TWILIO_TOKEN,
            account_sid: str = TWILIO_SID) -> str:
        """An inbound SMS through the real webhook, signed the way Twilio signs it (to the default number, or
        to a test's own account). Returns its sid."""
        from twilio.request_validator import RequestValidator

        sid = "SM" + uuid.uuid4().hex
        fields = {"MessageSid": sid, "SmsSid": sid, "AccountSid": account_sid, "From": sender, "To": to,
                  "Body": body, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": "2010-04-01"}
        url = self.url + "/webhooks/twilio/sms"
        request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": RequestValidator(token).compute_signature(url, fields),
        })
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.read()
        return sid

    def quiet(self) -> None:
        """Start a test on a quiet hub: every agent offline and every earlier conversation resolved, so that
        routing offers nothing left over from another test."""
        self.run("""
            from hub.models import AgentProfile, Conversation
            from hub.actions.agents import do_set_presence
            from hub.actions.conversations import do_set_status
            for profile in AgentProfile.objects.exclude(presence="offline"):
                do_set_presence(None, profile, "offline")
            for conversation in Conversation.objects.exclude(status="resolved"):
                do_set_status(None, conversation, "resolved")
        """)


def _hub_env(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {
        "HUB_PUBLIC_URL": url,
        "HUB_WEBCHAT_KEY": WEBCHAT_KEY,
        "HUB_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "HUB_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "HUB_SMS_NUMBER": SMS_NUMBER,
        "HUB_SMTP_PORT": str(free_port()),
        "HUB_ROUTING_TICK_SECONDS": "1",
        "HUB_SEARCH_TICK_SECONDS": "60",
    }


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserHub]:
    data_dir = tmp_path_factory.mktemp("browser-hub")
    port = free_port()
    process = HubProcess(data_dir, port, args=("--no-demo", "--no-access-log"), env=_hub_env(port))
    try:
        process.wait_healthy()
        yield BrowserHub(process, data_dir)
    finally:
        process.stop()
        # Anything the hub logged as an error is a test failure somewhere, even if no assertion saw it.
        assert "Traceback" not in process.output, process.output[-8000:]


# Package scope: while Playwright's sync API is running, the main thread counts as running an event loop,
# and the async tests of other packages (pytest-asyncio) could not start their own.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        needs_service("Chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - a dev dependency
        needs_service("Playwright", str(exc))
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox", "--disable-dev-shm-usage"])
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@dataclass
class PageWatch:
    """What a page did that a test must see: dialogs (a script payload that ran would open one) and
    errors in its console or uncaught exceptions."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(browser: Any, hub: BrowserHub) -> Iterator[Callable[..., tuple[Any, PageWatch]]]:
    """`open_page(locale="en-US")` -> (page, watch): a fresh browser context (its own cookies and storage)
    whose dialogs are recorded and dismissed."""
    contexts: list[Any] = []

    def make(locale: str = "en-US", **options: Any) -> tuple[Any, PageWatch]:
        context = browser.new_context(base_url=hub.url, locale=locale, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        watch = PageWatch()

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: watch.errors.append(f"console: {msg.text}") if msg.type == "error" else None)
        return page, watch

    yield make
    for context in contexts:
        context.close()


def login(page: Any, username: str, password: str, next_path: str = "/inbox/") -> None:
    """Sign in through the hub's login page (Django's AuthenticationForm field names). Enter submits the
    form: the page's header has buttons of its own (the language switch)."""
    page.goto(f"/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    page.wait_for_url(lambda url: urllib.parse.urlsplit(url).path == next_path)
