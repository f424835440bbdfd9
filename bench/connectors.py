"""Connector benchmark (issue: connectors). Prints figures; not a pass/fail test.

1. Throughput per connector, messages/s, in one process: (a) verify + parse alone, (b) the whole webhook
   pipeline (Django's request handling, account lookup, signature check, parse, ingest in one transaction,
   the connector's answer), each request a new message from a returning customer. Background tasks
   (routing rounds, media fetches) are not run here: they happen after the answer. SQLite and PostgreSQL.
2. Webhook acknowledgement latency, p50/p99, at a steady 100 requests/s spread over the connectors: Daphne
   serving the hub (`hub.asgi`) in its own process on PostgreSQL and Redis, Celery mode (tasks go to Redis;
   a worker runs them), the requests signed like the providers sign them, sent by aiohttp from this process.
   100 customers per channel write once before the clock starts; in the run, every tenth message of a
   channel comes from a customer writing for the first time (a new conversation, routed by the worker) and
   the others continue a returning customer's conversation. Each webhook comes on a new connection, as
   providers send them; `--servers N` runs N web processes on one socket as `hub up --processes N` does.

    .venv/bin/python bench/connectors.py                   # everything (needs PostgreSQL and Redis)
    .venv/bin/python bench/connectors.py --only throughput
    .venv/bin/python bench/connectors.py --only latency --rate 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent)]

from bench.ingest import PG_BENCH, REDIS, SECRET, _recreate_pg, machine_busy, wait_for_port  # noqa: E402

PUBLIC_URL = "http://127.0.0.1:8000"
TWILIO_SID = "AC3f9c0e5b2d7a41e8b6c4d2a19f0e7b35"
TWILIO_TOKEN = "12345678901234567890123456789012"
SMS_NUMBER = "+15017122661"
VOICE_NUMBER = "+15005550006"
SLACK_TEAM = "T123ABC456"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EMAIL_TOKEN = "relay-token-bench"
EMAIL_ADDRESS = "support@example.com"
WEIBO_UID = "5175429989"
WEIBO_SECRET = "weibo-app-secret-bench"

_counter = itertools.count(1)


@dataclass(frozen=True)
class Request:
    connector: str
    path: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _customer(i: int, customer: int | None = None) -> int:
    return i % 500 if customer is None else customer  # 500 customers: most messages continue a conversation


def sms_request(i: int, customer: int | None = None) -> Request:
    from twilio.request_validator import RequestValidator

    path, c = "/webhooks/twilio/sms", _customer(i, customer)
    params = {"MessageSid": f"SMbench{i:026d}", "AccountSid": TWILIO_SID, "From": f"+1415555{c:04d}",
              "To": SMS_NUMBER, "Body": f"bench message {i}: where is my order?", "NumMedia": "0",
              "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, params)
    return Request("sms", path, urlencode(params).encode(), "application/x-www-form-urlencoded",
                   {"X-Twilio-Signature": signature})


def voice_request(i: int, customer: int | None = None) -> Request:
    from twilio.request_validator import RequestValidator

    path = "/webhooks/twilio/voice"
    caller = f"+1415666{_customer(i, customer):04d}"
    params = {"CallSid": f"CAbench{i:026d}", "AccountSid": TWILIO_SID, "From": caller, "Caller": caller,
              "To": VOICE_NUMBER, "Called": VOICE_NUMBER, "CallStatus": "ringing", "Direction": "inbound",
              "ApiVersion": "2010-04-01"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, params)
    return Request("voice", path, urlencode(params).encode(), "application/x-www-form-urlencoded",
                   {"X-Twilio-Signature": signature})


def slack_request(i: int, customer: int | None = None) -> Request:
    import hmac

    ts, c = f"{1700000000 + i}.{i % 1000000:06d}", _customer(i, customer)
    payload = {"token": "x", "team_id": SLACK_TEAM, "api_app_id": "A123ABC456", "type": "event_callback",
               "event_id": f"EvBENCH{i:08d}", "event_time": 1700000000 + i,
               "authorizations": [{"team_id": SLACK_TEAM, "user_id": "UBOT00001", "is_bot": True}],
               "event": {"type": "message", "channel": f"C{c:08d}", "user": f"U{c:08d}",
                         "text": f"bench message {i}: the export is stuck", "ts": ts, "event_ts": ts,
                         "channel_type": "channel"}}
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    basestring = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SLACK_SECRET.encode(), basestring, hashlib.sha256).hexdigest()
    return Request("slack", "/webhooks/slack/events", body, "application/json",
                   {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": stamp})


def email_request(i: int, customer: int | None = None) -> Request:
    c = _customer(i, customer)
    raw = (f"From: Customer {c} <customer{c}@example.net>\r\n"
           f"To: {EMAIL_ADDRESS}\r\nSubject: Order question {i}\r\n"
           f"Message-ID: <bench-{i}@example.net>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           f"Hello,\r\n\r\nmy order {i} has not arrived. 请帮我查一下订单。\r\n\r\n-- \r\nA customer\r\n").encode()
    return Request("email", f"/webhooks/email/{EMAIL_ADDRESS}", raw, "message/rfc822",
                   {"Authorization": f"Bearer {EMAIL_TOKEN}"})


def weibo_request(i: int, customer: int | None = None) -> Request:
    stamp, nonce = str(int(time.time())), f"n{i}"
    signature = hashlib.sha1("".join(sorted([WEIBO_SECRET, stamp, nonce])).encode()).hexdigest()
    payload = {"type": "text", "receiver_id": int(WEIBO_UID), "sender_id": 1000000000 + _customer(i, customer),
               "created_at": "Mon Nov 23 10:00:00 +0800 2026", "text": f"第{i}号订单还没到, 帮忙查一下",
               "data": {}, "id": 4000000000000000 + i}
    query = urlencode({"signature": signature, "timestamp": stamp, "nonce": nonce})
    return Request("social", f"/webhooks/weibo?{query}", json.dumps(payload, ensure_ascii=False).encode(),
                   "application/json")


BUILDERS: dict[str, Callable[..., Request]] = {
    "sms": sms_request, "voice": voice_request, "slack": slack_request, "email": email_request,
    "social": weibo_request,
}


def _chosen() -> dict[str, Callable[..., Request]]:
    names = [n for n in os.environ.get("BENCH_CONNECTORS", ",".join(BUILDERS)).split(",") if n]
    return {name: BUILDERS[name] for name in names}


def setup_accounts() -> None:
    """The channel accounts the requests are signed for (idempotent)."""
    from hub.models import ChannelAccount

    accounts = [
        ("sms", SMS_NUMBER, {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}),
        ("voice", VOICE_NUMBER, {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}),
        ("slack", SLACK_TEAM, {"signing_secret": SLACK_SECRET}),
        ("email", EMAIL_ADDRESS, {"webhook_token": EMAIL_TOKEN}),
        ("social", WEIBO_UID, {"app_secret": WEIBO_SECRET}),
    ]
    for channel, address, config in accounts:
        ChannelAccount.objects.update_or_create(channel=channel, address=address,
                                                defaults={"name": f"bench {channel}", "config": config})


def _env(db_url: str, data_dir: str, redis: str = "", task_mode: str = "sync") -> dict[str, str]:
    return {**os.environ, "HUB_DATABASE_URL": db_url, "HUB_REDIS_URL": redis, "HUB_DATA_DIR": data_dir,
            "HUB_SECRET_KEY": SECRET, "HUB_TASK_MODE": task_mode, "HUB_LOG_LEVEL": "ERROR",
            "HUB_PUBLIC_URL": PUBLIC_URL, "DJANGO_SETTINGS_MODULE": "hub.settings", "PYTHONPATH": str(ROOT),
            "HUB_SMTP_PORT": "0"}


# --- 1. throughput, in a child process per database --------------------------------------------------------

def child_throughput(count: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from connectors import registry
    from hub import taskqueue
    from hub.connector_port import account_info
    from hub.models import ChannelAccount
    from hub.webhooks import inbound_request

    call_command("migrate", verbosity=0)
    setup_accounts()
    # What runs after the answer (routing rounds, media fetches) is not part of this figure.
    taskqueue.runner.submit = lambda *args, **kwargs: None  # type: ignore[method-assign]
    client = Client(HTTP_HOST="127.0.0.1")
    results: dict[str, Any] = {}
    from django.test import RequestFactory

    factory = RequestFactory()
    base = next(_counter) * 1_000_000
    for connector_id, build in _chosen().items():
        connector = registry.get(connector_id)
        if connector is None:
            continue
        requests = [build(base + i) for i in range(count)]
        # (a) verify + parse alone.
        account = ChannelAccount.objects.get(channel=connector_id, name=f"bench {connector_id}")
        info = account_info(account)
        parsed = []
        for r in requests:
            http = factory.generic("POST", r.path, data=r.body, content_type=r.content_type,
                                   headers=r.headers, HTTP_HOST="127.0.0.1")
            params = {"account": EMAIL_ADDRESS} if connector_id == "email" else {}
            parsed.append(inbound_request(http, r.body, "", params))
        t0 = time.perf_counter()
        for req in parsed:
            endpoint_req = req
            if not connector.verify(info, endpoint_req):
                raise SystemExit(f"{connector_id}: the bench request does not verify")
            connector.parse(info, endpoint_req)
        parse_rate = count / (time.perf_counter() - t0)
        # (b) the whole webhook.
        t0 = time.perf_counter()
        for r in requests:
            response = client.generic("POST", r.path, data=r.body, content_type=r.content_type, headers=r.headers)
            if response.status_code >= 300:
                raise SystemExit(f"{connector_id}: {response.status_code} {response.content[:200]!r}")
        full_rate = count / (time.perf_counter() - t0)
        results[connector_id] = {"verify_parse_per_s": round(parse_rate), "webhook_per_s": round(full_rate, 1)}
    print(json.dumps(results))


def measure_throughput(count: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, db in (("sqlite", ""), ("postgresql", PG_BENCH)):
        data_dir = tempfile.mkdtemp(prefix="hub-bench-")
        if db:
            _recreate_pg()
        env = _env(db or f"sqlite:///{data_dir}/hub.sqlite3", data_dir)
        proc = subprocess.run([sys.executable, __file__, "_throughput", str(count)], env=env, text=True,
                              capture_output=True, check=False)
        if proc.returncode:
            raise SystemExit(f"throughput child failed: {proc.stderr[-3000:]}")
        out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# --- 2. acknowledgement latency -----------------------------------------------------------------------------

def child_setup() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    setup_accounts()
    print(json.dumps({"ok": True}))


def measure_latency(rate: float, seconds: float, servers: int = 1) -> dict[str, Any]:
    import redis as redis_lib

    _recreate_pg()
    redis_lib.Redis.from_url(REDIS).flushdb()
    data_dir = tempfile.mkdtemp(prefix="hub-bench-")
    env = _env(PG_BENCH, data_dir, REDIS, task_mode="celery")
    setup = subprocess.run([sys.executable, __file__, "_setup"], env=env, text=True, capture_output=True,
                           check=False)
    if setup.returncode:
        raise SystemExit(f"setup failed: {setup.stderr[-3000:]}")
    # `servers` web processes on one listening socket, as `hub up --processes N` runs them (the hub's own
    # child command), the kernel handing each connection to one of them.
    import socket

    listener = socket.create_server(("127.0.0.1", 0), backlog=2048)
    port = listener.getsockname()[1]
    daphnes = [subprocess.Popen([sys.executable, "-m", "hub.cli", "_serve-fd", str(listener.fileno()),
                                 "--no-access-log"], env=env, pass_fds=(listener.fileno(),),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(servers)]
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "hub.celery", "worker", "--loglevel=ERROR",
                               "--concurrency=1", "--pool=solo"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        asyncio.run(wait_for_port(port))
        time.sleep(3)  # every web process and the worker started: start-up is not a webhook's cost
        def cpu() -> tuple[float, float, float]:
            return sum(_cpu_seconds(d.pid) for d in daphnes), _cpu_seconds(worker.pid), machine_busy()

        result = asyncio.run(_latency_run(port, rate, seconds, cpu))
        cpu_before, cpu_after = result.pop("cpu")
        sent = sum(result["statuses"].values())
        result["servers"] = servers
        result["daphne_cpu_ms_per_request"] = round((cpu_after[0] - cpu_before[0]) * 1000 / sent, 1)
        result["worker_cpu_ms_per_request"] = round((cpu_after[1] - cpu_before[1]) * 1000 / sent, 1)
        # Every process on the machine (these, PostgreSQL, Redis and this client): what a webhook costs the
        # cores, so the rate they can carry at most.
        result["machine_cpu_ms_per_request"] = round((cpu_after[2] - cpu_before[2]) * 1000 / sent, 1)
        return result
    finally:
        for proc in (*daphnes, worker):
            proc.terminate()
            proc.wait(10)
        listener.close()


RETURNING = 100  # customers per channel who wrote before the latency run
NEW_EVERY = 10  # --new-every
# Each webhook on a new connection, as providers deliver them (--keep-alive: the client's pool, whose few
# connections each stay with the web process that accepted them).
FRESH_CONNECTIONS = True


def _run_customer(sequence: int) -> int:
    """Who sends a channel's `sequence`-th message of the latency run: one of its returning customers, or
    every NEW_EVERY-th time someone writing for the first time (a new conversation, which routing takes)."""
    return RETURNING + sequence if sequence % NEW_EVERY == NEW_EVERY - 1 else sequence % RETURNING


async def _worker_idle() -> None:
    import redis.asyncio as redis_async

    client = redis_async.Redis.from_url(REDIS)
    try:
        quiet = 0
        while quiet < 5:
            await asyncio.sleep(0.2)
            quiet = quiet + 1 if not await client.llen("celery") else 0
    finally:
        await client.aclose()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to tell CPU from waiting."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_stat() -> list[int]:
    """The machine's CPU time so far, all cores: user, nice, system, idle, iowait, irq, softirq, steal."""
    with open("/proc/stat") as stat:
        return [int(v) for v in stat.readline().split()[1:9]]


async def _latency_run(port: int, rate: float, seconds: float,
                       cpu: Callable[[], tuple[float, float, float]]) -> dict[str, Any]:
    import aiohttp

    await wait_for_port(port)
    available = list(_chosen())
    total = int(rate * seconds)
    warmup = int(rate * 2)
    base = 50_000_000
    requests = [BUILDERS[available[i % len(available)]](base + i, _run_customer(i // len(available)))
                for i in range(total + warmup)]
    latencies: dict[str, list[float]] = {name: [] for name in available}
    statuses: dict[int, int] = {}
    per_second: dict[int, float] = {}  # the slowest answer to the requests sent in each second

    connector = aiohttp.TCPConnector(limit=200, force_close=FRESH_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        # The returning customers write once before the clock starts, and the worker routes their new
        # conversations: the run then sees the mix of a center at work, not 100 first contacts a second.
        gate = asyncio.Semaphore(8)

        async def prime(r: Request) -> None:
            async with gate, session.post(f"http://127.0.0.1:{port}{r.path}", data=r.body,
                                          headers={"Content-Type": r.content_type, "Host": "127.0.0.1:8000",
                                                   **r.headers}) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"priming {r.connector}: {resp.status}")

        await asyncio.gather(*(prime(BUILDERS[name](40_000_000 + n * RETURNING + c, c))
                               for n, name in enumerate(available) for c in range(RETURNING)))
        await _worker_idle()
        cpu_before = cpu()

        async def one(index: int, r: Request) -> None:
            headers = {"Content-Type": r.content_type, "Host": "127.0.0.1:8000", **r.headers}
            t0 = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}{r.path}", data=r.body, headers=headers) as resp:
                await resp.read()
                elapsed = time.perf_counter() - t0
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if index >= warmup:
                latencies[r.connector].append(elapsed * 1000)
                worst = int(t0 - start)
                per_second[worst] = max(per_second.get(worst, 0.0), elapsed * 1000)

        start = time.perf_counter() + 0.5
        # What the machine did each second, to tell a slow second's cause: busy (CPU), stolen by the host,
        # or neither (a wait on a lock or the disk).
        machine: list[tuple[float, float]] = []

        async def sample_machine() -> None:
            previous = _proc_stat()
            while True:
                await asyncio.sleep(1.0)
                now = _proc_stat()
                elapsed = sum(now) - sum(previous)
                busy = elapsed - (now[3] - previous[3]) - (now[4] - previous[4])
                machine.append((100 * busy / max(1, elapsed), 100 * (now[7] - previous[7]) / max(1, elapsed)))
                previous = now

        sampler = asyncio.create_task(sample_machine())
        tasks = []
        for index, r in enumerate(requests):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, r)))
        await asyncio.gather(*tasks)
        cpu_after = cpu()
        sampler.cancel()

    def summary(values: list[float]) -> dict[str, float]:
        ms = sorted(values)
        return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1),
                "p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 1), "max_ms": round(ms[-1], 1)}

    every = [x for values in latencies.values() for x in values]
    return {"rate": rate, "seconds": seconds, "statuses": statuses, "cpu": (cpu_before, cpu_after),
            "slowest_ms_by_second": [round(per_second[k]) for k in sorted(per_second)],
            "machine_busy_pct_by_second": [round(busy) for busy, _ in machine],
            "stolen_pct_by_second": [round(stolen) for _, stolen in machine], "all": summary(every),
            **{name: summary(values) for name, values in latencies.items() if values}}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        if sys.argv[1] == "_throughput":
            child_throughput(int(sys.argv[2]))
        elif sys.argv[1] == "_setup":
            child_setup()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--only", choices=["throughput", "latency"])
    parser.add_argument("--count", type=int, default=1000, help="messages per connector for throughput")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--servers", type=int, default=1,
                        help="web processes on the port, as `hub up --processes N` runs them")
    parser.add_argument("--connectors", default=",".join(BUILDERS), help="comma-separated connector ids")
    parser.add_argument("--new-every", type=int, default=10,
                        help="latency run: every Nth message of a channel is a new customer's (1: all of them)")
    parser.add_argument("--keep-alive", action="store_true",
                        help="latency run: reuse the client's connections instead of one per webhook")
    args = parser.parse_args()
    os.environ["BENCH_CONNECTORS"] = args.connectors
    global NEW_EVERY, FRESH_CONNECTIONS
    NEW_EVERY = max(1, args.new_every)
    FRESH_CONNECTIONS = not args.keep_alive
    if args.only in (None, "throughput"):
        print("throughput:", json.dumps(measure_throughput(args.count), indent=1))
    if args.only in (None, "latency"):
        print("ack latency:", json.dumps(measure_latency(args.rate, args.seconds, args.servers), indent=1))


if __name__ == "__main__":
    main()

