"""Agent websocket benchmark (issue: the browser). Prints figures; not a pass/fail test.

1. Idle agent connections on one server process: N agents connected to /ws/agent/ (session cookie, Origin
   header, as a browser), each sending the protocol's `ping` every 25 s (docs/protocol.md: every 20-30 s;
   Daphne also sends its own websocket ping frame every 20 s). For each N: the server process's resident
   memory over its value with no connection, divided by N, and its CPU over a quiet window, as % of one
   core, beside the same window with no connection at all (the periodic jobs of `hub up`).
2. Message-to-agent latency with 500 agents connected: inbound SMS posted to the real Twilio webhook, signed
   with twilio's RequestValidator, into conversations with no team (every agent is a recipient), at a
   steady rate; from just before each POST to the moment each client receives the message's
   `message.created` event. p50/p95/p99 over all deliveries, and per message the time until the LAST agent
   had it.

The server is `hub up --no-demo --no-access-log` in a child process on a fresh data folder (the embedded
defaults: SQLite, the in-memory channel layer, the in-process task runner), or with `--layer redis` Daphne
serving hub.asgi on PostgreSQL and channels-redis (tasks go to Celery on Redis; no worker runs them). Agents
are created by a child process on the same database, and logged in by writing their sessions with Django's
session engine. The clients are aiohttp websockets in this one process (asyncio); its own CPU and its event
loop's lag are printed, because it shares the machine's cores with the server.

    .venv/bin/python bench/websockets.py                        # N = 500, 1000, 2000; latency with 500
    .venv/bin/python bench/websockets.py --quick                # under a minute
    .venv/bin/python bench/websockets.py --only idle --counts 500,2000 --idle-seconds 60
    .venv/bin/python bench/websockets.py --only latency --agents 500 --rate 5 --seconds 30
    .venv/bin/python bench/websockets.py --layer redis          # Daphne + PostgreSQL + channels-redis
    .venv/bin/python bench/websockets.py --profile /tmp/ws-prof # the server under pyinstrument (text report)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on sys.path and bench/routing.py would hide the `routing` app.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent)]

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgres://postgres@127.0.0.1:5432/hub_bench_ws"
REDIS = "redis://127.0.0.1:6379/13"
SECRET = "bench-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz"
TWILIO_SID = "AC" + "5" * 32
TWILIO_TOKEN = "bench-websockets-twilio-token-01"
SMS_NUMBER = "+15005550006"
PING = '{"type": "ping"}'
TARGET_KIB, TARGET_CPU, TARGET_N = 64.0, 10.0, 2000
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- in a child process: agents and their sessions --------------------------------------------------------

def child_setup(count: int, migrate: bool) -> None:
    """Create `count` agents (no team) and a logged-in session for each; print the session keys.

    Passwords are unusable: hashing 2,000 real ones would take minutes and plays no part in a websocket.
    The sessions hold what django.contrib.auth.login() writes, so AuthMiddlewareStack resolves the user."""
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from hub.channel_accounts import ensure_default_accounts
    from hub.models import AgentProfile

    if migrate:
        call_command("migrate", verbosity=0)
        ensure_default_accounts()
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db", settings.SESSION_ENGINE
    backend = settings.AUTHENTICATION_BACKENDS[0]
    unusable = make_password(None)
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"wsbench{i}", password=unusable) for i in range(count)], batch_size=500)
        AgentProfile.objects.bulk_create(
            [AgentProfile(user=u, display_name=f"Bench agent {i}") for i, u in enumerate(users)], batch_size=500)
        sessions = [Session(session_key=get_random_string(32), expire_date=expires, session_data=store.encode({
            SESSION_KEY: str(u.pk), BACKEND_SESSION_KEY: backend, HASH_SESSION_KEY: u.get_session_auth_hash()}))
            for u in users]
        Session.objects.bulk_create(sessions, batch_size=500)
    print(json.dumps([s.session_key for s in sessions]))


# --- the server process -----------------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    layer: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    description: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system time of every thread of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Daphne stops its reactor: a profiler gets to write
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _base_env(data_dir: str, port: int) -> dict[str, str]:
    # Only what is set here: no HUB_* of the calling shell (a test database, another hub's Redis).
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_DATA_DIR=data_dir, HUB_HOST="127.0.0.1", HUB_PORT=str(port),
               HUB_PUBLIC_URL=f"http://127.0.0.1:{port}", HUB_SECRET_KEY=SECRET, HUB_LOG_LEVEL="WARNING",
               HUB_TWILIO_ACCOUNT_SID=TWILIO_SID, HUB_TWILIO_AUTH_TOKEN=TWILIO_TOKEN, HUB_SMS_NUMBER=SMS_NUMBER,
               HUB_SMTP_PORT="0", PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="hub.settings",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])))
    return env


def _wait_healthy(server: Server, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"the server exited with {server.proc.returncode}:\n{server.log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"/healthz did not answer within {limit:.0f} s:\n{server.log.read_text()[-4000:]}")


def _setup_agents(env: dict[str, str], count: int, migrate: bool) -> list[str]:
    done = subprocess.run([sys.executable, __file__, "_setup", str(count), "1" if migrate else "0"], env=env,
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"creating the agents failed:\n{done.stderr[-4000:]}")
    sessions: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return sessions


def start_server(layer: str, agents: int, profile: Path | None) -> tuple[Server, list[str]]:
    """A fresh server with `agents` agents (and no other user), and their session keys."""
    data_dir = tempfile.mkdtemp(prefix="hub-bench-ws-")
    port = _free_port()
    env = _base_env(data_dir, port)
    log = Path(data_dir) / "server.log"
    wrap: list[str] = []
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        out = profile / f"server-{layer}-{agents}-{int(time.time())}.txt"
        wrap = ["-m", "pyinstrument", "-r", "text", "-o", str(out), "--show-all"]
    if layer == "memory":
        env["HUB_TASK_MODE"] = "inprocess"
        cmd = [sys.executable, *wrap, "-m", "hub.cli", "up", "--no-demo", "--no-access-log"]
        description = "hub up (embedded: SQLite, in-memory channel layer, in-process tasks)"
        sessions: list[str] = []
    else:
        import psycopg
        import redis as redis_lib

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS hub_bench_ws WITH (FORCE)")
            conn.execute("CREATE DATABASE hub_bench_ws")
        redis_lib.Redis.from_url(REDIS).flushdb()
        env.update(HUB_DATABASE_URL=PG_BENCH, HUB_REDIS_URL=REDIS, HUB_TASK_MODE="celery")
        sessions = _setup_agents(env, agents, migrate=True)
        cmd = [sys.executable, *wrap, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "hub.asgi:application"]
        description = "daphne hub.asgi (PostgreSQL, channels-redis, tasks to Celery with no worker)"
    with log.open("wb") as out_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out_file, stderr=subprocess.STDOUT)
    server = Server(layer, port, env, proc, log, description)
    _wait_healthy(server)
    if layer == "memory":
        sessions = _setup_agents(env, agents, migrate=False)  # `hub up` has migrated
    return server, sessions


# --- the clients ----------------------------------------------------------------------------------------

FrameHandler = Callable[[str, float], None]


@dataclass
class Clients:
    """Agent websockets from this process: each read by its own task (aiohttp answers Daphne's ping frames
    while reading), the protocol pings spread evenly over the interval by one task."""

    session: Any  # aiohttp.ClientSession
    server: Server
    on_frame: FrameHandler | None = None
    sockets: list[Any] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    pongs: int = 0
    pings: int = 0
    dropped: list[str] = field(default_factory=list)

    async def _read(self, ws: Any) -> None:
        async for msg in ws:
            now = time.perf_counter()
            data = msg.data
            if isinstance(data, str):
                if data.startswith('{"type": "pong"'):
                    self.pongs += 1
                elif self.on_frame is not None:
                    self.on_frame(data, now)
        self.dropped.append(f"closed with {ws.close_code}")

    async def _open_one(self, session_key: str) -> None:
        import aiohttp

        url = self.server.url.replace("http://", "ws://") + "/ws/agent/"
        headers = {"Cookie": f"sessionid={session_key}", "Origin": self.server.url}
        ws = await self.session.ws_connect(url, headers=headers, timeout=aiohttp.ClientWSTimeout(ws_close=10))
        hello = await ws.receive(timeout=60)
        if hello.type != aiohttp.WSMsgType.TEXT or json.loads(hello.data).get("type") != "hello":
            raise SystemExit(f"no hello: {hello!r} (close code {ws.close_code})")
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self._read(ws)))

    async def open(self, session_keys: list[str], concurrency: int = 50) -> float:
        """Connect the given agents, `concurrency` handshakes at a time; returns the seconds it took."""
        semaphore = asyncio.Semaphore(concurrency)

        async def one(key: str) -> None:
            async with semaphore:
                await self._open_one(key)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(k) for k in session_keys))
        return time.perf_counter() - t0

    async def pinger(self, interval: float) -> None:
        """Each socket pings every `interval` seconds at a phase of its own (spread as browsers would be);
        sockets opened while this runs join at the next tick."""
        loop = asyncio.get_running_loop()
        due: list[tuple[float, int]] = []  # (when, index in self.sockets), a heap
        known = 0
        while True:
            now = loop.time()
            for i in range(known, len(self.sockets)):
                heapq.heappush(due, (now + random.uniform(0, interval), i))
            known = len(self.sockets)
            while due and due[0][0] <= now:
                when, i = heapq.heappop(due)
                if i < len(self.sockets) and not self.sockets[i].closed:
                    await self.sockets[i].send_str(PING)
                    self.pings += 1
                    heapq.heappush(due, (when + interval, i))
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.sockets.clear()
        self.readers.clear()


class LagMonitor:
    """How late this process's event loop wakes up: the delay it adds to every receive time measured."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self, period: float = 0.02) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(period)
            self.lags.append(loop.time() - t - period)


def _aiohttp_session() -> Any:
    import aiohttp

    # No pool limit: every websocket holds its connection for as long as it is open.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return values[max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))]


def _tally(reasons: list[str]) -> str:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))


def _server_errors(server: Server) -> str:
    """What the server logged as errors: a benchmark that provokes exceptions must say so."""
    log = server.log.read_text(errors="replace")
    kinds: dict[str, int] = {}
    for line in log.splitlines():
        if " ERROR " in line:
            kind = line.split(": ", 1)[-1][:100]
            kinds[kind] = kinds.get(kind, 0) + 1
    if not kinds:
        return ""
    listed = "; ".join(f"{n} x {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:4])
    return f"server log: {sum(kinds.values())} errors ({listed}); full log in {server.log}"


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- 1. idle connections ----------------------------------------------------------------------------------

async def _measure_window(server: Server, clients: Clients | None, seconds: float) -> dict[str, float]:
    pongs = clients.pongs if clients else 0
    cpu, own, t0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - t0
    return {"cpu_pct": (server.cpu_seconds() - cpu) / wall * 100,
            "client_pct": (time.process_time() - own) / wall * 100,
            "pongs": (clients.pongs - pongs) if clients else 0, "wall": wall}


async def idle_run(server: Server, sessions: list[str], counts: list[int], idle_seconds: float,
                   ping_seconds: float, settle: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with _aiohttp_session() as session:
        # Warm up: the first connections import and create what every later one shares (thread pool,
        # channel layer, Django's URL resolver); they are not the connections' own memory.
        warm = Clients(session, server)
        await warm.open(sessions[:20])
        await warm.close()
        await asyncio.sleep(settle)
        base_rss = server.rss_kib()
        quiet = await _measure_window(server, None, idle_seconds)
        rows.append({"n": 0, "open_s": 0.0, "rss_kib": base_rss, "per_conn_kib": 0.0, **quiet,
                     "threads": server.threads()})
        clients = Clients(session, server)
        pinger = asyncio.create_task(clients.pinger(ping_seconds))
        try:
            for n in counts:
                opened = await clients.open(sessions[len(clients.sockets):n])
                await asyncio.sleep(settle)
                rss = server.rss_kib()
                window = await _measure_window(server, clients, idle_seconds)
                rows.append({"n": n, "open_s": opened, "rss_kib": rss,
                             "per_conn_kib": (rss - base_rss) / n, **window, "threads": server.threads(),
                             "dropped": len(clients.dropped), "closes": _tally(clients.dropped)})
        finally:
            pinger.cancel()
            await clients.close()
    return rows


def print_idle(server: Server, rows: list[dict[str, Any]], idle_seconds: float, ping_seconds: float) -> None:
    print(f"\n# Idle agent connections on one server process: {server.description}")
    print(f"# a `ping` per connection every {ping_seconds:g} s, Daphne's websocket ping every 20 s; "
          f"CPU over {idle_seconds:g} s windows; load average {_loadavg()} at the end")
    print(f"{'connections':>11} {'connect':>9} {'RSS MiB':>8} {'KiB/conn':>9} {'server CPU':>11} {'over idle':>10} "
          f"{'pongs':>6} {'client CPU':>11} {'threads':>8}")
    base = rows[0]
    for r in rows:
        rate = f"{r['n'] / r['open_s']:.0f}/s" if r["open_s"] else "-"
        over = r["cpu_pct"] - base["cpu_pct"]
        print(f"{r['n']:>11} {rate:>9} {r['rss_kib'] / 1024:>8.1f} {r['per_conn_kib']:>9.1f} "
              f"{r['cpu_pct']:>10.2f}% {over:>+9.2f}% {r['pongs']:>6} {r['client_pct']:>10.2f}% {r['threads']:>8}")
    dropped = max((r.get("dropped", 0) for r in rows), default=0)
    if dropped:
        print(f"connections closed by the server during the run: {dropped} ({rows[-1]['closes']})")
    top = rows[-1]
    if top["n"]:
        print(f"against the targets at {top['n']} connections: {top['per_conn_kib']:.1f} KiB each = "
              f"{top['per_conn_kib'] / TARGET_KIB:.2f} x the {TARGET_KIB:g} KiB budget; idle CPU "
              f"{top['cpu_pct']:.2f}% of a core = {top['cpu_pct'] / TARGET_CPU:.2f} x the {TARGET_CPU:g}% budget")
        if len(rows) > 2:
            first = rows[1]
            memory = (top["rss_kib"] - base["rss_kib"]) / max(1, first["rss_kib"] - base["rss_kib"])
            cpu = (top["cpu_pct"] - base["cpu_pct"]) / max(0.01, first["cpu_pct"] - base["cpu_pct"])
            print(f"scaling {first['n']} -> {top['n']} connections (x{top['n'] / first['n']:g}): memory over idle "
                  f"x{memory:.2f}, CPU over idle x{cpu:.2f}")


# --- 2. latency -------------------------------------------------------------------------------------------

def sms_body(server: Server, i: int, customer: int, text: str) -> tuple[bytes, dict[str, str]]:
    from twilio.request_validator import RequestValidator

    path = "/webhooks/twilio/sms"
    sid = f"SMws{os.getpid():08d}{i:020d}"
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": TWILIO_SID, "From": f"+1415555{customer:04d}",
              "To": SMS_NUMBER, "Body": text, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
              "ApiVersion": "2010-04-01"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(server.url + path, params)
    return urlencode(params).encode(), {"X-Twilio-Signature": signature,
                                         "Content-Type": "application/x-www-form-urlencoded"}


async def latency_run(server: Server, sessions: list[str], rate: float, seconds: float,
                      customers: int, ping_seconds: float) -> dict[str, Any]:
    count = max(1, int(rate * seconds))
    agents = len(sessions)
    arrivals: dict[int, list[float]] = {}

    def on_frame(data: str, now: float) -> None:
        # Only the frames the run waits for are decoded: the client shares the cores with the server.
        if '"message.created"' not in data:
            return
        text = json.loads(data)["event"]["message"]["text"]
        if text.startswith("wsbench "):
            arrivals.setdefault(int(text.split(" ", 2)[1]), []).append(now)

    sent: dict[int, float] = {}
    acks: list[float] = []
    failures: list[str] = []

    async def post(session: Any, i: int, customer: int) -> None:
        body, headers = sms_body(server, i, customer, f"wsbench {i} where is my order 订单 #{i}?")
        t0 = time.perf_counter()
        sent[i] = t0
        async with session.post(server.url + "/webhooks/twilio/sms", data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                failures.append(f"{response.status} {await response.text()}"[:200])
        acks.append(time.perf_counter() - t0)

    async def wait_for(indexes: range, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(len(arrivals.get(i, ())) >= agents for i in indexes):
                return
            await asyncio.sleep(0.05)

    monitor = LagMonitor()
    async with _aiohttp_session() as session:
        clients = Clients(session, server, on_frame)
        opened = await clients.open(sessions)
        pinger = asyncio.create_task(clients.pinger(ping_seconds))
        lag_task = asyncio.create_task(monitor.run())
        try:
            # Warm-up, not counted: the first message of each customer opens its conversation (and asks
            # routing for an agent); the measured ones continue those conversations.
            warm = range(-customers, 0)
            for i in warm:
                await post(session, i, i % customers)
            await wait_for(warm, 60)
            sent.clear()
            acks.clear()
            monitor.lags.clear()
            cpu, own, t_start = server.cpu_seconds(), time.process_time(), time.perf_counter()
            tasks = []
            late = 0
            for i in range(count):
                delay = t_start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.05:
                    late += 1
                tasks.append(asyncio.create_task(post(session, i, i % customers)))
            await asyncio.gather(*tasks)
            await wait_for(range(count), 60)
            wall = time.perf_counter() - t_start
            server_cpu = (server.cpu_seconds() - cpu) / wall * 100
            client_cpu = (time.process_time() - own) / wall * 100
        finally:
            lag_task.cancel()
            pinger.cancel()
            dropped = len(clients.dropped)
            closes = _tally(clients.dropped)
            await clients.close()
    deliveries = sorted((t - sent[i]) * 1000 for i in range(count) for t in arrivals.get(i, ()))
    last = sorted((max(arrivals[i]) - sent[i]) * 1000 for i in range(count) if len(arrivals.get(i, ())) >= agents)
    lags = sorted(x * 1000 for x in monitor.lags) or [0.0]
    ack_ms = sorted(x * 1000 for x in acks)
    return {"agents": agents, "messages": count, "rate": rate, "open_s": opened, "deliveries": deliveries,
            "expected": count * agents, "last": last, "complete": len(last), "acks": ack_ms, "late": late,
            "server_cpu": server_cpu, "client_cpu": client_cpu, "lags": lags, "failures": failures,
            "dropped": dropped, "closes": closes, "wall": wall}


def _line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: none"
    return (f"{label}: p50 {_pct(values, 0.5):.1f}  p95 {_pct(values, 0.95):.1f}  p99 {_pct(values, 0.99):.1f}  "
            f"max {values[-1]:.1f} ms")


def print_latency(server: Server, r: dict[str, Any]) -> None:
    print(f"\n# Message-to-agent latency, {r['agents']} agents connected: {server.description}")
    print(f"# SMS webhook at {r['rate']:g} messages/s, {r['messages']} messages, every agent a recipient "
          f"(conversations with no team); {r['agents']} agents connected in {r['open_s']:.1f} s; "
          f"load average {_loadavg()} at the end")
    print(f"deliveries {len(r['deliveries'])}/{r['expected']}, {r['complete']}/{r['messages']} messages reached "
          f"every agent; sends late by > 50 ms: {r['late']}; webhook failures: {len(r['failures'])}; "
          f"sockets closed by the server: {r['dropped']} {r['closes'] if r['dropped'] else ''}")
    print(_line(f"every delivery ({len(r['deliveries'])})", r["deliveries"]))
    print(_line(f"until the last agent ({r['complete']} messages)", r["last"]))
    print(_line("webhook acknowledged", r["acks"]))
    lags = r["lags"]
    print(f"server CPU {r['server_cpu']:.1f}% of a core over the {r['wall']:.1f} s run; client CPU "
          f"{r['client_cpu']:.1f}%; client event-loop lag p50 {_pct(lags, 0.5):.1f}  p99 {_pct(lags, 0.99):.1f}  "
          f"max {lags[-1]:.1f} ms (included in the figures above)")
    for failure in r["failures"][:3]:
        print(f"  webhook failure: {failure}")


# --- main -------------------------------------------------------------------------------------------------

def environment() -> str:
    cores = os.cpu_count()
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), "?")
    import aiohttp
    import channels
    import daphne
    import django

    return (f"# machine: {cores} cores, {int(mem) / 1024 / 1024:.0f} GiB, {platform.platform()}; load average "
            f"{_loadavg()}\n# Python {platform.python_version()}, Django {django.__version__}, Channels "
            f"{channels.__version__}, Daphne {daphne.__version__}, aiohttp {aiohttp.__version__}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        child_setup(int(sys.argv[2]), sys.argv[3] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["idle", "latency"])
    parser.add_argument("--quick", action="store_true", help="small counts and short windows (under a minute)")
    parser.add_argument("--layer", choices=["memory", "redis"], default="memory",
                        help="memory: `hub up` embedded (default); redis: Daphne on PostgreSQL + channels-redis")
    parser.add_argument("--counts", help="idle connection counts, comma-separated (default 500,1000,2000)")
    parser.add_argument("--idle-seconds", type=float, help="CPU window per count (default 30)")
    parser.add_argument("--ping-seconds", type=float, default=25.0, help="client ping interval (default 25)")
    parser.add_argument("--agents", type=int, help="agents connected in the latency run (default 500)")
    parser.add_argument("--rate", type=float, help="messages per second in the latency run (default 2)")
    parser.add_argument("--seconds", type=float, help="length of the latency run (default 30)")
    parser.add_argument("--customers", type=int, default=10, help="conversations the messages go to")
    parser.add_argument("--profile", type=Path, help="run the server under pyinstrument; reports go here")
    args = parser.parse_args()
    counts = [int(c) for c in (args.counts or ("100,250" if args.quick else "500,1000,2000")).split(",")]
    idle_seconds = args.idle_seconds or (4.0 if args.quick else 30.0)
    agents = args.agents or (100 if args.quick else 500)
    rate = args.rate or 2.0
    seconds = args.seconds or (4.0 if args.quick else 30.0)
    settle = 1.0 if args.quick else 3.0
    print(environment())
    random.seed(1)

    if args.only in (None, "idle"):
        server, sessions = start_server(args.layer, max(counts), args.profile)
        try:
            rows = asyncio.run(idle_run(server, sessions, counts, idle_seconds, args.ping_seconds, settle))
        finally:
            server.stop()
        print_idle(server, rows, idle_seconds, args.ping_seconds)
        print(_server_errors(server) or "server log: no errors")
    if args.only in (None, "latency"):
        server, sessions = start_server(args.layer, agents, args.profile)
        try:
            result = asyncio.run(latency_run(server, sessions, rate, seconds, args.customers, args.ping_seconds))
        finally:
            server.stop()
        print_latency(server, result)
        print(_server_errors(server) or "server log: no errors")
    if args.profile:
        print(f"\nprofiles in {args.profile}")
    with contextlib.suppress(Exception):
        sys.stdout.flush()


if __name__ == "__main__":
    main()
