"""Routing benchmark (issue: routing). Prints figures; not a pass/fail test.

1. Engine decisions per second (routing/core, no database): 500 agents, 5,000 waiting conversations in
   three queues with skills; a bulk round from a standing start, then a steady state where each step an
   agent finishes a conversation, accepts its offer, and a round runs.
2. Database-backed latency from the ingest call of a web chat message (the conversation is queued) to the
   `offer.created` frame at the offered agent's websocket, p50/p99 after --warmup seconds (default 3; their
   slowest is printed apart), at a steady 100 assignments/s on
   PostgreSQL with channels-redis, Daphne and a Celery worker running the routing rounds. 20 agents are
   connected (BENCH_AGENTS); each accepts every offer at once over its websocket and resolves the
   conversation through the API half a second later, so capacity frees up as in a real center.
   BENCH_SERVER_LOG=FILE and BENCH_SERVER_LOG_LEVEL=DEBUG keep the server's and the worker's log, with one
   line per routing round (its size and time).

    .venv/bin/python bench/routing.py                  # both (the second needs PostgreSQL and Redis)
    .venv/bin/python bench/routing.py --only engine
    .venv/bin/python bench/routing.py --only latency --rate 100 --seconds 20
    .venv/bin/python bench/routing.py --only latency --rate 15 --no-search-worker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
# This file's own folder comes first on sys.path when it runs as a script, and its name would hide the
# `routing` package: the project root goes there instead, and the ingestion benchmark's helpers are
# loaded from their file.
sys.path[:] = [str(ROOT), *(p for p in sys.path[1:] if Path(p or ".").resolve() != BENCH)]
_spec = importlib.util.spec_from_file_location("bench_ingest", BENCH / "ingest.py")
assert _spec is not None and _spec.loader is not None
_ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ingest)
PG_BENCH, REDIS = _ingest.PG_BENCH, _ingest.REDIS
_env, _recreate_pg = _ingest._env, _ingest._recreate_pg

AGENTS_WS = int(os.environ.get("BENCH_AGENTS", "20"))


# --- 1. the engine -----------------------------------------------------------------------------------------

def bench_engine(agents: int = 500, waiting: int = 5000, steps: int = 3000) -> dict[str, float]:
    from routing.core import Agent, Contact, Engine, Offered, Queue

    rng = random.Random(1)
    queues = [Queue(1, team_id=1, required_skills={"billing": 2}), Queue(2, languages=frozenset({"zh"}),
                                                                        required_skills={"language:zh": 3}),
              Queue(3, order=5)]
    engine = Engine(queues)
    for i in range(agents):
        skills = {"billing": rng.randint(1, 5)} if i % 3 == 0 else {}
        if i % 4 == 0:
            skills["language:zh"] = rng.randint(1, 5)
        engine.set_agent(Agent(i, "available", frozenset({1}) if i % 2 else frozenset(), skills,
                               idle_since=rng.random() * 100), 0.0)
    channels = ["webchat", "webchat", "email", "sms", "social"]
    for c in range(waiting):
        engine.enqueue(Contact(c, rng.choice(channels), float(c) / 100, team_id=1 if c % 3 == 0 else None,
                               language="zh" if c % 5 == 0 else "en", priority=rng.randint(0, 3)), 50.0)
    t0 = time.perf_counter()
    bulk = engine.tick(60.0)
    bulk_s = time.perf_counter() - t0
    # Steady state: an agent's offer is accepted, one of its conversations finishes, a round runs.
    offers = {d.agent_id: d.conversation_id for d in bulk if isinstance(d, Offered)}
    now, decided = 61.0, 0
    t0 = time.perf_counter()
    for step in range(steps):
        now += 0.01
        agent = step % agents
        if agent in offers:
            decided += len(engine.accept(offers.pop(agent), agent, now))
        held = sorted(engine.agents[agent].assigned)
        if held:
            decided += len(engine.remove(held[0], now))
        for d in engine.tick(now):
            decided += 1
            if isinstance(d, Offered):
                offers[d.agent_id] = d.conversation_id
    steady_s = time.perf_counter() - t0
    return {"bulk_decisions": len(bulk), "bulk_ms": bulk_s * 1000, "bulk_per_s": len(bulk) / bulk_s,
            "steady_decisions": decided, "steady_per_s": decided / steady_s, "steady_round_ms": steady_s * 1000 / steps}


# --- 2. latency through the database --------------------------------------------------------------------------

def child_setup() -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from hub.channel_accounts import ensure_default_accounts
    from hub.models import AgentProfile

    call_command("migrate", verbosity=0)
    ensure_default_accounts()
    creds = []
    for i in range(AGENTS_WS):
        user = User.objects.create_user(f"router{i}", password="bench-pass")
        AgentProfile.objects.create(user=user, display_name=f"Router {i}", presence="available")
        from django.test import Client

        client = Client()
        client.force_login(user)
        creds.append({"session": client.cookies["sessionid"].value, "token": Token.objects.create(user=user).key})
    print(json.dumps(creds))


def child_load(worker: int, workers: int, rate: float, count: int, start: float) -> None:
    import django

    django.setup()
    from connectors.base import InboundMessage, Sender
    from hub.actions.ingestion import do_ingest_message
    from hub.channel_accounts import ensure_default_accounts

    account = ensure_default_accounts()["webchat"]
    late = [0]
    for i, called in _ingest.paced(worker, workers, rate, count, start, late):
        # A new visitor each time: a new conversation that needs an agent. Routing runs after commit.
        do_ingest_message(account, InboundMessage(f"route-{i}", Sender("webchat", f"bench-visitor-{i}"),
                                                  text=f"route {i} {called!r}"))
    print(json.dumps({"late": late[0]}))


def measure_latency(rate: float, seconds: float, search_worker: bool = True, warmup_s: float = 3.0,
                    servers: int = 1) -> dict[str, Any]:
    import redis as redis_lib

    _recreate_pg()
    redis_lib.Redis.from_url(REDIS).flushdb()
    # The production topology (docker-compose): Daphne serves the websockets and the API, a Celery worker
    # runs the routing rounds, and webhook processes ingest. Rounds in the web process would compete for
    # its interpreter lock with the event loop serving the sockets.
    env = {**_env(PG_BENCH, tempfile.mkdtemp(prefix="hub-bench-"), REDIS), "HUB_TASK_MODE": "celery"}
    setup = subprocess.Popen([sys.executable, __file__, "_setup"], env=env, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    out, err = setup.communicate()
    if setup.returncode:
        raise SystemExit(f"setup failed: {err}")
    creds = json.loads(out.strip().splitlines()[-1])
    server_env = {**env, "HUB_LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING")}
    import socket

    # `servers` web processes on one listening socket, as `hub up --processes N` runs them (the hub's own
    # child command), the kernel handing each connection, websocket or request, to one of them.
    listener = socket.create_server(("127.0.0.1", 0), backlog=2048)
    port = listener.getsockname()[1]
    with open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w") as server_log:
        web = [subprocess.Popen([sys.executable, "-m", "hub.cli", "_serve-fd", str(listener.fileno()),
                                 "--no-access-log"], env=server_env, pass_fds=(listener.fileno(),),
                                stdout=subprocess.DEVNULL, stderr=server_log, text=True)
               for _ in range(servers)]
        # Two workers as docs/operations.md suggests: routing and the rest on the default queue, the search
        # indexer on its own (with one worker for both, rounds waited behind index writes).
        workers = [subprocess.Popen([sys.executable, "-m", "hub.cli", "worker", "--pool=solo", "-Q", queue,
                                     "-n", f"{queue}@%h"], env=server_env, stdout=subprocess.DEVNULL,
                                    stderr=server_log, text=True)
                   for queue in ("celery", "search") if queue == "celery" or search_worker]
        try:
            roles = {"web": [p.pid for p in web], "worker": [p.pid for p in workers[:1]],
                     "search worker": [p.pid for p in workers[1:]]}
            return asyncio.run(_latency_run(port, creds, rate, seconds, env, warmup_s, roles))
        finally:
            for proc in (*workers, *web):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            listener.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has spent, from /proc (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces: the fields are counted from its closing parenthesis.
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_by_role(roles: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds per role: the given processes, and every PostgreSQL and Redis process on the machine."""
    out = {role: sum(_cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}
    for role in ("postgres", "redis-server"):
        out[role] = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if name in ("postgres", "redis-server"):
            out[name] += _cpu_seconds(int(entry.name))
    return out


async def _latency_run(port: int, creds: list[dict[str, str]], rate: float, seconds: float,
                       env: dict[str, str], warmup_s: float, roles: dict[str, list[int]]) -> dict[str, Any]:
    import aiohttp

    await _ingest.wait_for_port(port)
    total = int(rate * seconds)
    # Not measured: the first seconds of a freshly started server (its request threads open their database
    # connections, the first resolves arrive half a second in), which a running center is long past.
    warmup = int(rate * warmup_s)
    latencies: list[float] = []
    done = asyncio.Event()
    resolves: list[asyncio.Task[None]] = []

    async def resolve_later(session: aiohttp.ClientSession, token: str, conversation_id: int) -> None:
        await asyncio.sleep(0.5)
        async with session.post(f"http://127.0.0.1:{port}/api/v1/conversations/{conversation_id}/resolve/",
                                headers={"Authorization": f"Token {token}"}) as response:
            await response.read()

    # The offer frame carries the conversation, not the message: ingest times are matched by conversation,
    # from the message.created event every agent also receives (conversations without a team are everyone's).
    called_at: dict[int, float] = {}

    async with aiohttp.ClientSession() as session:
        received: dict[int, float] = {}

        async def agent_ws(cred: dict[str, str]) -> None:
            async with session.ws_connect(f"ws://127.0.0.1:{port}/ws/agent/", headers={
                    "Cookie": f"sessionid={cred['session']}", "Origin": f"http://127.0.0.1:{port}"}) as ws:
                while not done.is_set():
                    try:
                        msg = await ws.receive(timeout=1.0)
                    except TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return
                    now = time.time()
                    frame = json.loads(msg.data)
                    if frame.get("type") != "event":
                        continue
                    event = frame["event"]
                    if event["type"] == "message.created" and event["message"]["text"].startswith("route "):
                        called = event["message"]["text"].split(" ")[2]
                        called_at.setdefault(event["message"]["conversation_id"], float(called))
                    elif event["type"] == "offer.created":
                        cid = event["conversation"]["id"]
                        received[cid] = now
                        await ws.send_json({"type": "offer.accept", "offer_id": event["offer_id"]})
                        resolves.append(asyncio.create_task(resolve_later(session, cred["token"], cid)))
                        if len(received) >= total + warmup:
                            done.set()

        sockets = [asyncio.create_task(agent_ws(c)) for c in creds]
        await asyncio.sleep(2.0)
        start = time.time() + 4.0
        workers = 4
        load = [subprocess.Popen([sys.executable, __file__, "_load", str(w), str(workers), str(rate),
                                  str(total + warmup), str(start)], env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE) for w in range(workers)]
        roles["load"] = [p.pid for p in load]
        roles["bench client"] = [os.getpid()]
        await asyncio.sleep(max(0.0, start - time.time()))
        busy_before, offers_before = _ingest.machine_busy(), len(received)
        cpu_before = _cpu_by_role(roles)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=seconds + 60)
        busy_after, offers_after = _ingest.machine_busy(), len(received)
        cpu_after = _cpu_by_role(roles)
        done.set()
        late = 0
        for p in load:
            out, err = await asyncio.to_thread(p.communicate)
            if p.returncode:
                raise SystemExit(f"load process failed: {err}")
            late += json.loads(out.strip().splitlines()[-1])["late"]
        await asyncio.gather(*sockets, return_exceptions=True)
        await asyncio.gather(*resolves, return_exceptions=True)
    ordered = sorted((called_at[c], received[c]) for c in received if c in called_at)
    for called, got in ordered[warmup:]:
        latencies.append(got - called)
    ms = sorted(x * 1000 for x in latencies)
    first = sorted((got - called) * 1000 for called, got in ordered[:warmup])
    span = ordered[-1][0] - ordered[0][0] if len(ordered) > 1 else 1.0
    return {"offers": len(received), "measured": len(ms), "achieved_rate": round(len(ordered) / span, 1),
            "p50_ms": round(statistics.median(ms), 2) if ms else None,
            "p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 2) if ms else None,
            "max_ms": round(ms[-1], 2) if ms else None, "late_sends": late,
            "warmup_max_ms": round(first[-1], 2) if first else None,
            # Every process on the machine (the server, worker, load, PostgreSQL, Redis and this client):
            # what one conversation costs the two cores, so the rate they can carry at most.
            "cpu_ms_per_conversation": round((busy_after - busy_before) * 1000 / max(1, offers_after - offers_before),
                                             1),
            # The same, per process: where the machine's time goes.
            "cpu_ms_by_role": {role: round((cpu_after[role] - cpu_before[role]) * 1000
                                           / max(1, offers_after - offers_before), 1) for role in cpu_after}}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        cmd, rest = sys.argv[1], sys.argv[2:]
        if cmd == "_setup":
            child_setup()
        elif cmd == "_load":
            child_load(int(rest[0]), int(rest[1]), float(rest[2]), int(rest[3]), float(rest[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["engine", "latency"])
    parser.add_argument("--rate", type=float, default=100.0, help="assignments per second in the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--servers", type=int, default=1,
                        help="web processes on one socket, as `hub up --processes N` runs them (default 1)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of arrivals at the start left out of the figures (default 3)")
    parser.add_argument("--no-search-worker", action="store_true",
                        help="leave the search indexer's queue unserved: routing alone on the two cores (the "
                             "indexer's runs, about 250 ms each, are a core's worth beside it)")
    args = parser.parse_args()
    if args.only in (None, "engine"):
        r = bench_engine()
        print("# Engine (routing/core), 500 agents, 5,000 waiting conversations, 3 queues with skills")
        print(f"bulk round: {r['bulk_decisions']} decisions in {r['bulk_ms']:.1f} ms -> {r['bulk_per_s']:,.0f} "
              "decisions/s")
        print(f"steady state: {r['steady_decisions']} decisions, {r['steady_round_ms']:.2f} ms per step (accept, "
              f"finish, round) -> {r['steady_per_s']:,.0f} decisions/s")
    if args.only in (None, "latency"):
        print(f"\n# Queued-to-offer-frame latency at {args.rate:g} assignments/s for {args.seconds:g} s "
              f"(PostgreSQL, channels-redis, {args.servers} web process(es), {AGENTS_WS} agents accepting at once, "
              "resolving 0.5 s later)")
        r = measure_latency(args.rate, args.seconds, search_worker=not args.no_search_worker, warmup_s=args.warmup,
                            servers=args.servers)
        print(f"achieved {r['achieved_rate']} conversations/s, {r['offers']} offers, {r['measured']} measured: "
              f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms (in the {args.warmup:g} s "
              f"warm-up: max {r['warmup_max_ms']} ms); sends late by > 50 ms: "
              f"{r['late_sends']}; machine CPU per conversation {r['cpu_ms_per_conversation']} ms "
              f"({os.cpu_count()} cores)")
        print("  of which: " + ", ".join(f"{role} {ms} ms" for role, ms in r["cpu_ms_by_role"].items()))


if __name__ == "__main__":
    main()
