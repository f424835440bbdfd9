"""Ingestion benchmark (issue: foundation). Prints figures; not a pass/fail test.

1. Sustained ingestion rate, messages/s, through hub.actions.ingestion.do_ingest_message (the one door
   every connector uses): on SQLite (1 process) and on PostgreSQL (1, 2 and 4 processes), with 11 agents
   and a supervisor receiving the realtime events, so the per-recipient fan-out is included.
2. Latency from the ingest call to the frame arriving at a connected agent's websocket client, p50/p99, at
   a steady 200 messages/s: Daphne serving /ws/agent/ in its own process, channels-redis, PostgreSQL, the
   ingesting process publishing after commit (the production topology of docker-compose).

    .venv/bin/python bench/ingest.py                 # everything (needs PostgreSQL and Redis)
    .venv/bin/python bench/ingest.py --quick         # shorter runs
    .venv/bin/python bench/ingest.py --only rate     # or: --only cpu, --only latency
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on sys.path, and bench/routing.py would hide the `routing`
# package (a Django app): the project root takes its place.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent)]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgres://postgres@127.0.0.1:5432/hub_bench"
REDIS = "redis://127.0.0.1:6379/14"
SECRET = "bench-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz"


def _env(db_url: str, data_dir: str, redis: str = "") -> dict[str, str]:
    return {**os.environ, "HUB_DATABASE_URL": db_url, "HUB_REDIS_URL": redis, "HUB_DATA_DIR": data_dir,
            "HUB_SECRET_KEY": SECRET, "HUB_TASK_MODE": "sync", "HUB_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "hub.settings", "PYTHONPATH": str(ROOT)}


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _recreate_pg() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS hub_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE hub_bench")


# --- in a child process -------------------------------------------------------------------------------

def _django() -> None:
    import django
    from django.conf import settings

    django.setup()
    # HUB_TASK_MODE=sync runs every task inline, which would put the search indexer (a tantivy commit per
    # message) inside each ingest call. In production it runs in a worker, coalescing commits; bench/search.py
    # measures it. What is measured here is the one door and the realtime path.
    settings.SEARCH_AUTO_INDEX = False


def child_setup() -> None:
    """Migrate and create the agents who receive the events."""
    _django()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from hub.channel_accounts import ensure_default_accounts
    from hub.models import AgentProfile, Team

    call_command("migrate", verbosity=0)
    ensure_default_accounts()
    team = Team.objects.get_or_create(name="General")[0]
    for i in range(11):
        user = User.objects.create_user(f"bench{i}", password="bench-pass")
        AgentProfile.objects.create(user=user, display_name=f"Bench {i}").teams.add(team)
    sup = User.objects.create_user("benchsup", password="bench-pass")
    AgentProfile.objects.create(user=sup, display_name="Supervisor", role="supervisor")
    from django.test import Client

    client = Client()  # a session for the websocket client of the latency run
    client.force_login(User.objects.get(username="bench0"))
    print(json.dumps({"sessionid": client.cookies["sessionid"].value}))


def child_rate(worker: int, count: int, start: float) -> None:
    """Ingest `count` messages from 50 customers of this worker's own, starting at `start`."""
    _django()
    from connectors.base import InboundMessage, Sender
    from hub.actions.ingestion import do_ingest_message
    from hub.channel_accounts import ensure_default_accounts

    account = ensure_default_accounts()["sms"]
    messages = [InboundMessage(provider_message_id=f"w{worker}-{i}",
                               sender=Sender("phone", f"+1415{worker:03d}{i % 50:04d}"),
                               text=f"Benchmark message {i}: where is my order 订单 #{i}?")
                for i in range(count)]
    do_ingest_message(account, InboundMessage("warmup-" + str(worker), Sender("phone", f"+1416{worker:07d}")))
    time.sleep(max(0.0, start - time.time()))
    t0 = time.perf_counter()
    for m in messages:
        do_ingest_message(account, m)
    print(json.dumps({"seconds": time.perf_counter() - t0, "count": count}))


def child_load(worker: int, workers: int, rate: float, count: int, start: float) -> None:
    """Ingest messages `worker`, `worker + workers`, ... of a stream at `rate` messages/s overall, each on
    its schedule from `start`, the wall-clock time of the call written into the text."""
    _django()
    from connectors.base import InboundMessage, Sender
    from hub.actions.ingestion import do_ingest_message
    from hub.channel_accounts import ensure_default_accounts

    account = ensure_default_accounts()["sms"]
    do_ingest_message(account, InboundMessage(f"warm-{worker}", Sender("phone", f"+1418{worker:07d}")))
    late = [0]
    for i, called in paced(worker, workers, rate, count, start, late):
        do_ingest_message(account, InboundMessage(f"lat-{i}", Sender("phone", f"+1417555{i % 200:04d}"),
                                                  text=f"lat {i} {called!r}"))
    print(json.dumps({"late": late[0]}))


def paced(worker: int, workers: int, rate: float, count: int, start: float,
          late: list[int]) -> Iterator[tuple[int, float]]:
    """Indexes `worker`, `worker + workers`, ... of a stream at `rate` per second from `start`, each yielded
    with the wall-clock time it is sent at; `late[0]` counts sends more than 50 ms behind schedule."""
    for i in range(worker, count, workers):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.05:
            late[0] += 1
        yield i, time.time()


async def wait_for_port(port: int, what: str = "daphne") -> None:
    deadline = time.time() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.time() > deadline:
                raise SystemExit(f"{what} did not start") from None
            await asyncio.sleep(0.2)


def child_cpu(count: int) -> None:
    """Where one process's ingest time goes: wall time, this process's CPU, and the CPU of the PostgreSQL
    backend serving it, per message."""
    _django()
    from django.db import connection

    from connectors.base import InboundMessage, Sender
    from hub.actions.ingestion import do_ingest_message
    from hub.channel_accounts import ensure_default_accounts

    account = ensure_default_accounts()["sms"]
    messages = [InboundMessage(f"cpu-{i}", Sender("phone", f"+1419555{i % 50:04d}"), text=f"message {i}")
                for i in range(count + 100)]
    for m in messages[:100]:
        do_ingest_message(account, m)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        row = cur.fetchone()
        assert row is not None
        pid = row[0]

    def backend_cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    wall, cpu, backend = time.perf_counter(), time.process_time(), backend_cpu()
    for m in messages[100:]:
        do_ingest_message(account, m)
    print(json.dumps({"wall_ms": (time.perf_counter() - wall) * 1000 / count,
                      "client_cpu_ms": (time.process_time() - cpu) * 1000 / count,
                      "backend_cpu_ms": (backend_cpu() - backend) * 1000 / count}))


# --- in the parent process ----------------------------------------------------------------------------

def measure_rate(label: str, db_url: str, processes: int, total: int) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix="hub-bench-")
    env = _env(db_url, data_dir)
    setup = _child(["_setup"], env)
    _, err = setup.communicate()
    if setup.returncode:
        raise SystemExit(f"setup failed: {err}")
    start = time.time() + 3.0
    per = total // processes
    procs = [_child(["_rate", str(w), str(per), str(start)], env) for w in range(processes)]
    outputs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed: {err}")
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(o["seconds"] for o in outputs)
    rate = per * processes / wall
    return {"label": label, "processes": processes, "messages": per * processes, "seconds": round(wall, 2),
            "rate": round(rate, 1)}


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_latency(rate: float, seconds: float) -> dict[str, Any]:
    import redis as redis_lib

    _recreate_pg()
    redis_lib.Redis.from_url(REDIS).flushdb()
    data_dir = tempfile.mkdtemp(prefix="hub-bench-")
    env = _env(PG_BENCH, data_dir, REDIS)
    setup = _child(["_setup"], env)
    out, err = setup.communicate()
    if setup.returncode:
        raise SystemExit(f"setup failed: {err}")
    cookie = json.loads(out.strip().splitlines()[-1])["sessionid"]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "hub.asgi:application"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        return asyncio.run(_latency_run(port, cookie, rate, seconds, env))
    finally:
        server.terminate()
        server.wait(10)


async def _latency_run(port: int, cookie: str, rate: float, seconds: float,
                       env: dict[str, str]) -> dict[str, Any]:
    import aiohttp

    await wait_for_port(port)

    total = int(rate * seconds)
    warmup = int(rate)  # the first second is not counted
    workers = 4
    latencies: list[float] = []
    gaps = 0
    async with aiohttp.ClientSession() as session, session.ws_connect(
        f"ws://127.0.0.1:{port}/ws/agent/",
        headers={"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"},
    ) as ws:
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello", hello
        last_seq = hello["seq"]
        start = time.time() + 4.0  # every load process imported and warmed up before its first message
        load = [_child(["_load", str(w), str(workers), str(rate), str(total + warmup), str(start)], env)
                for w in range(workers)]
        received = 0
        calls: list[float] = []
        async for msg in ws:
            now = time.time()
            frame = json.loads(msg.data)
            if frame.get("type") != "event":
                continue
            gaps += frame["seq"] != last_seq + 1
            last_seq = frame["seq"]
            event = frame["event"]
            if event["type"] != "message.created" or not event["message"]["text"].startswith("lat "):
                continue
            _, index, called = event["message"]["text"].split(" ")
            calls.append(float(called))
            if int(index) >= warmup:
                latencies.append(now - float(called))
            received += 1
            if received >= total + warmup:
                break
        elapsed = max(calls) - min(calls)  # the span of the ingest calls: the rate the load really had
        late = 0
        for p in load:
            out, err = p.communicate(timeout=60)
            if p.returncode:
                raise SystemExit(f"load process failed: {err}")
            late += json.loads(out.strip().splitlines()[-1])["late"]
    ms = sorted(x * 1000 for x in latencies)
    return {
        "target_rate": rate, "achieved_rate": round((total + warmup) / elapsed, 1), "measured": len(ms),
        "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
        "max_ms": round(ms[-1], 2), "sequence_gaps": gaps, "late_sends": late, "load_processes": workers,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        cmd, rest = sys.argv[1], sys.argv[2:]
        if cmd == "_setup":
            child_setup()
        elif cmd == "_rate":
            child_rate(int(rest[0]), int(rest[1]), float(rest[2]))
        elif cmd == "_cpu":
            child_cpu(int(rest[0]))
        elif cmd == "_load":
            child_load(int(rest[0]), int(rest[1]), float(rest[2]), int(rest[3]), float(rest[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["rate", "cpu", "latency"])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--messages", type=int, default=0, help="messages per rate run")
    parser.add_argument("--seconds", type=float, default=0, help="length of each latency run")
    parser.add_argument("--rates", default="200,100,50", help="latency runs at these messages/s")
    args = parser.parse_args()
    n = args.messages or (1000 if args.quick else 4000)
    secs = args.seconds or (5 if args.quick else 15)

    if args.only in (None, "rate"):
        print(f"# Sustained ingestion rate ({n} messages per run, 12 recipients per event)")
        rows = []
        sqlite_path = Path(tempfile.mkdtemp(prefix="hub-bench-")) / "bench.sqlite3"
        rows.append(measure_rate("SQLite", f"sqlite:///{sqlite_path}", 1, n))
        for procs in (1, 2, 4):
            _recreate_pg()
            rows.append(measure_rate("PostgreSQL", PG_BENCH, procs, n))
        for r in rows:
            print(f"{r['label']:<11} processes={r['processes']}  {r['messages']} messages in {r['seconds']} s"
                  f"  ->  {r['rate']} messages/s")
    if args.only in (None, "cpu"):
        _recreate_pg()
        env = _env(PG_BENCH, tempfile.mkdtemp(prefix="hub-bench-"))
        setup = _child(["_setup"], env)
        _, err = setup.communicate()
        if setup.returncode:
            raise SystemExit(f"setup failed: {err}")
        proc = _child(["_cpu", str(min(n, 2000))], env)
        out, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"cpu run failed: {err}")
        c = json.loads(out.strip().splitlines()[-1])
        print("\n# Cost of one ingest on PostgreSQL, one process, 12 recipients")
        print(f"wall {c['wall_ms']:.2f} ms = hub process CPU {c['client_cpu_ms']:.2f} ms + PostgreSQL backend CPU "
              f"{c['backend_cpu_ms']:.2f} ms + waiting (commit flush, round trips)")
    if args.only in (None, "latency"):
        for rate in [float(r) for r in args.rates.split(",")]:
            print(f"\n# Ingest-to-websocket latency at a steady {rate:g} messages/s for {secs:g} s "
                  "(PostgreSQL, channels-redis, Daphne, 12 recipients per event)")
            r = measure_latency(rate, secs)
            print(f"achieved {r['achieved_rate']} messages/s from {r['load_processes']} ingesting processes, "
                  f"{r['measured']} measured: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms; "
                  f"sequence gaps {r['sequence_gaps']}; sends late by > 50 ms: {r['late_sends']}")


if __name__ == "__main__":
    main()
