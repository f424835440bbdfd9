"""Browser test 5 of issue 5: the wallboard's figures match what the test fed in.

A queue of its own (its own team and SMS number) gets five conversations with known times, made through the
actions and then given fixed KPI timestamps; a supervisor opens /supervisor/ and every figure of that queue's
row is checked against values computed by hand. Then one more customer writes through the real, signed SMS
webhook, and the row changes without a reload: the hub pushes the change over /ws/agent/.

Other tests share the hub, so only this queue's row is asserted, never the overall one.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest

from tests.browser.conftest import BrowserHub, login

TOKEN = "wallboard-test-token"
SID = "AC" + "b" * 32
# The hand-made day (seconds after BASE, threshold 30 s):
#   c1  queued 0    answered 10 (within)     resolved 100   handled 90 s
#   c2  queued 0    answered 60 (late)       open, held by the team's agent
#   c3  queued 120  resolved 140 unanswered  abandoned within 30 s: counts neither way in SL
#   c4  queued 120  resolved 200 unanswered  abandoned after 80 s: late
#   c5  queued 300  still waiting            late
# offered 5, answered 2, abandoned 2; SL = 1 / (2 answered + 1 late abandon + 1 late waiting) = 0.25;
# ASA = (10 + 60) / 2 = 35; abandonment = 2 / 5 = 0.4; AHT = 90 (c1 only); FCR = 1 (c1, nobody came back);
# waiting 1; longest wait = now - (BASE + 300); the team's one agent is busy holding c2: occupancy 1/8 (SMS).
SPAN = 600  # BASE is this many seconds ago


SEED = """
import datetime as dt
from django.utils import timezone
from hub.actions.agents import do_set_presence
from hub.actions.conversations import do_assign, do_set_status
from hub.actions.ingestion import do_ingest_message
from hub.actions.routing import do_enter_queue
from hub.actions.routing_config import do_create_queue
from hub.models import ChannelAccount, Conversation, RoutingEntry, Team, AgentProfile
from connectors.base import InboundMessage, Sender

p = params
team = Team.objects.create(name=p["team"])
queue = do_create_queue(None, {"name": p["team"], "team": team.pk, "order": -1, "service_level_seconds": 30})
account = ChannelAccount.objects.create(channel="sms", name=p["team"], address=p["number"], team=team,
                                        config={"auth_token": p["token"], "account_sid": p["sid"]})
agent = AgentProfile.objects.get(user_id=p["agent"])
agent.teams.set([team])
do_set_presence(None, agent, "busy")  # at work, but routing gives a busy agent nothing
convs = []
for i in range(5):
    msg = InboundMessage(provider_message_id=f"{p['team']}-{i}", text=f"hello {i}",
                         sender=Sender(kind="phone", address=f"{p['prefix']}{i:02d}"))
    conv = do_ingest_message(account, msg).message.conversation
    do_enter_queue(conv.pk, queue, out_of_hours=False)  # routing does it too, after the commit
    convs.append(conv)
c1, c2, c3, c4, c5 = convs
user = agent.user
do_assign(user, c1, user)
do_set_status(user, c1, "resolved")
do_assign(user, c2, user)
do_set_status(user, c3, "resolved")
do_set_status(user, c4, "resolved")
base = timezone.now() - dt.timedelta(seconds=p["span"])
t = lambda s: base + dt.timedelta(seconds=s)
times = {
    c1: dict(first_queued_at=t(0), first_response_at=t(10), assigned_at=t(5), resolved_at=t(100)),
    c2: dict(first_queued_at=t(0), first_response_at=t(60), assigned_at=t(50)),
    c3: dict(first_queued_at=t(120), resolved_at=t(140)),
    c4: dict(first_queued_at=t(120), resolved_at=t(200)),
    c5: dict(first_queued_at=t(300)),
}
for conv, values in times.items():
    Conversation.objects.filter(pk=conv.pk).update(**values)
RoutingEntry.objects.filter(pk=c5.pk).update(arrived_at=t(300), queue_since=t(300))
assert RoutingEntry.objects.filter(pk=c5.pk, state="waiting").exists()
result = {"queue": queue.pk, "base": base.timestamp(), "c2": c2.pk, "c5": c5.pk}
"""


def metric(row: Any, name: str) -> str:
    return str(row.locator(f"[data-metric={name}]").get_attribute("data-value"))


def test_the_wallboard_figures_match_what_was_fed_in(hub: BrowserHub, open_page: Any) -> None:
    # The hand-made day must fit in today (UTC, the browser's zone here): wait out the first minutes after
    # midnight rather than straddle two days.
    now = dt.datetime.now(dt.UTC)
    since_midnight = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    if since_midnight < SPAN + 30:
        time.sleep(SPAN + 30 - since_midnight)

    username, password, supervisor_id = hub.agent(role="supervisor")
    _, _, agent_id = hub.agent(role="agent")
    tag = uuid.uuid4().hex[:8]
    number = "+1555" + str(int(tag, 16) % 10_000_000).zfill(7)
    prefix = "+1666" + str(int(tag, 16) % 100_000).zfill(5)
    seeded = hub.run(SEED, team=f"Wallboard {tag}", number=number, token=TOKEN, sid=SID, agent=agent_id,
                     prefix=prefix, span=SPAN)
    queue_id = seeded["queue"]

    page, watch = open_page(timezone_id="UTC")
    login(page, username, password, "/supervisor/")
    # The login page's own requests (its favicon 404s) are not the wallboard's: count from here.
    before = len(watch.errors)
    page.wait_for_selector("[data-testid=connection][data-state=open]")
    row = page.locator(f"[data-testid=wb-queue][data-queue-id='{queue_id}']")
    row.wait_for()

    expected = {
        "offered": 5, "answered": 2, "waiting": 1, "service_level": 0.25, "asa": 35.0, "abandonment": 0.4,
        "aht": 90.0, "fcr": 1.0, "occupancy": 0.125, "agents_available": 0, "agents_busy": 1, "agents_away": 0,
        "agents_offline": 0,
    }
    for name, value in expected.items():
        assert float(metric(row, name)) == pytest.approx(value, abs=1e-6), name
    longest = float(metric(row, "longest_wait"))
    assert time.time() - (seeded["base"] + 300) - 15 <= longest <= time.time() - (seeded["base"] + 300) + 1
    # shown formatted for people, not as raw numbers
    assert row.locator("[data-metric=service_level]").inner_text() == "25%"
    assert row.locator("[data-metric=abandonment]").inner_text() == "40%"
    assert row.locator("[data-metric=asa]").inner_text() == "35s"
    assert row.locator("[data-metric=aht]").inner_text() == "1m 30s"
    # the agent table and the chart
    agent_row = page.locator(f"[data-testid=wb-agent][data-agent-id='{agent_id}']")
    assert agent_row.locator("[data-metric=presence]").get_attribute("data-value") == "busy"
    assert agent_row.locator("[data-metric=load]").get_attribute("data-value") == "1"
    assert agent_row.locator("[data-testid=wb-reassign]").count() == 1
    page.select_option("#wb-chart-row", str(queue_id))
    bars = page.locator("[data-testid=wb-chart] rect.wb-bar")
    assert sum(int(bars.nth(i).get_attribute("data-offered") or 0) for i in range(bars.count())) == 5
    first_update = page.locator("[data-testid=wb-updated]").get_attribute("data-time")

    # One more customer writes: the row follows without a reload, well before the 10 s poll would.
    page.evaluate("window.__sameDocument = true")
    started = time.monotonic()
    hub.sms(prefix + "99", "我的账单有问题", to=number, token=TOKEN, account_sid=SID)
    page.wait_for_function(
        """(id) => {
            const row = document.querySelector(`[data-testid=wb-queue][data-queue-id='${id}']`);
            return row && row.querySelector("[data-metric=waiting]").dataset.value === "2"
                && row.querySelector("[data-metric=offered]").dataset.value === "6";
        }""", arg=queue_id, timeout=9_000)
    assert time.monotonic() - started < 9
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.locator("[data-testid=wb-updated]").get_attribute("data-time") != first_update
    assert float(metric(row, "answered")) == 2

    # Force-assign the oldest waiting conversation (c5) to the team's agent from the agent table...
    agent_row.locator("[data-testid=wb-force-assign]").click()
    page.select_option("[data-testid=wb-assign-conversation]", str(seeded["c5"]))
    assert page.locator("[data-testid=wb-assign-agent]").input_value() == str(agent_id)
    page.click("[data-testid=wb-assign-confirm]")
    page.wait_for_function(
        """([id, agent]) => {
            const waiting = `[data-testid=wb-queue][data-queue-id='${id}'] [data-metric=waiting]`;
            const load = `[data-testid=wb-agent][data-agent-id='${agent}'] [data-metric=load]`;
            return document.querySelector(waiting).dataset.value === "1"
                && document.querySelector(load).dataset.value === "2";
        }""", arg=[queue_id, agent_id])
    # ...then reassign c2 from that agent to the supervisor.
    agent_row.locator(f"[data-testid=wb-reassign][data-conversation-id='{seeded['c2']}']").click()
    page.select_option("[data-testid=wb-assign-agent]", str(supervisor_id))
    page.click("[data-testid=wb-assign-confirm]")
    page.wait_for_function(
        """(agent) => document.querySelector(`[data-testid=wb-agent][data-agent-id='${agent}'] [data-metric=load]`)
            .dataset.value === "1" """, arg=agent_id)
    owners = hub.run("""
        from hub.models import Conversation
        result = dict(Conversation.objects.filter(pk__in=[params["c2"], params["c5"]]).values_list("pk", "assignee_id"))
    """, c2=seeded["c2"], c5=seeded["c5"])
    assert owners == {str(seeded["c2"]): supervisor_id, str(seeded["c5"]): agent_id}
    assert not watch.dialogs and not watch.errors[before:], (watch.dialogs, watch.errors)
