"""Take the README's screenshots: `.venv/bin/python docs/screenshots/capture.py`.

Starts `hub up` with the demo data on a fresh data folder (exactly what `make run` shows), then drives
Debian's Chromium through Playwright: a customer writes on the demo shop's chat widget, Alice accepts the
offer and answers, and Sofia watches the wallboard. Writes inbox.png, widget.png and wallboard.png here.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.hubprocess import HubProcess, free_port  # noqa: E402

VIEWPORT = {"width": 1360, "height": 820}
# Chinese punctuation is full-width on purpose.
QUESTION = "你好，我的账单有问题，上个月被扣了两次款。"  # noqa: RUF001
ANSWER = "您好！我是 Alice，我来帮您查看这两笔扣款。请问是哪一天的订单？"  # noqa: RUF001
FOLLOW_UP = "是 11 月 3 日的订单 #4417"


def sign_in(page: Page, username: str, password: str, next_path: str) -> None:
    page.goto(f"/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    page.wait_for_url(f"**{next_path}")


def only_alice_available(hub: HubProcess) -> None:
    """The demo leaves some agents available; for the pictures, the chat must be offered to Alice."""
    code = """
from hub.actions.agents import do_set_presence
from hub.models import AgentProfile
for profile in AgentProfile.objects.exclude(user__username="alice").exclude(presence="offline"):
    do_set_presence(None, profile, "offline")
"""
    subprocess.run([sys.executable, "-m", "tests.browser.remote"], input=json.dumps({"code": code}), text=True,
                   env=hub.env, cwd=HERE.parent.parent, check=True, capture_output=True)


def newest_chat(data_dir: Path) -> int:
    """The conversation the widget just started, read from the hub's SQLite file."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with sqlite3.connect(data_dir / "hub.sqlite3") as db:
            row = db.execute("SELECT id FROM hub_conversation WHERE channel = 'webchat' "
                             "ORDER BY id DESC LIMIT 1").fetchone()
        if row:
            return int(row[0])
        time.sleep(0.2)
    raise SystemExit("the widget's message never reached the hub")


def main() -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="hub-screenshots-") as data_dir:
        hub = HubProcess(Path(data_dir), port, args=("--no-access-log",), env={"HUB_PUBLIC_URL": url})
        try:
            hub.wait_healthy()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
                agent = browser.new_context(base_url=url, viewport=VIEWPORT, locale="en-US").new_page()
                sign_in(agent, "alice", "alice-demo", "/inbox/")
                agent.select_option("[data-testid=presence]", "available")
                agent.wait_for_selector("[data-testid=connection][data-state=open]")
                agent.wait_for_timeout(1500)  # routing hands Alice what was waiting for her first
                only_alice_available(hub)

                customer = browser.new_context(base_url=url, viewport=VIEWPORT, locale="zh-CN").new_page()
                customer.goto("/demo/")
                customer.locator("#hub-chat [data-testid=chat-bubble]").click()
                customer.wait_for_function("document.getElementById('hub-chat')?.dataset.state === 'open'")
                customer.fill("#hub-chat [data-testid=chat-input]", QUESTION)
                customer.locator("#hub-chat [data-testid=chat-send]").click()

                chat_id = newest_chat(Path(data_dir))
                offer = agent.locator(f"[data-testid=offer][data-conversation-id='{chat_id}']")
                offer.wait_for(timeout=30_000)
                agent.locator("[data-testid=customer-panel]").wait_for()
                agent.wait_for_timeout(500)
                agent.screenshot(path=str(HERE / "offer.png"))
                offer.locator("[data-testid=offer-accept]").click()
                agent.locator(f"[data-testid=conversation][data-conversation-id='{chat_id}']").wait_for()
                agent.locator("[data-testid=timeline-message][data-channel=webchat]").first.wait_for()
                agent.fill("[data-testid=reply-input]", ANSWER)
                agent.locator("[data-testid=reply-send]").click()
                customer.locator("#hub-chat [data-testid=chat-message][data-author=agent]").first.wait_for()
                customer.fill("#hub-chat [data-testid=chat-input]", FOLLOW_UP)
                customer.wait_for_timeout(1200)  # the typing indicator reaches Alice
                customer.screenshot(path=str(HERE / "widget.png"))
                agent.screenshot(path=str(HERE / "inbox.png"))

                supervisor = browser.new_context(base_url=url, viewport=VIEWPORT, locale="en-US").new_page()
                sign_in(supervisor, "sofia", "sofia-demo", "/supervisor/")
                supervisor.wait_for_selector("[data-testid=wb-overall]")
                supervisor.wait_for_timeout(1500)
                supervisor.screenshot(path=str(HERE / "wallboard.png"), full_page=True)
                browser.close()
        finally:
            hub.stop()
    for name in ("inbox.png", "offer.png", "widget.png", "wallboard.png"):
        print(HERE / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
