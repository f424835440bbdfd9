"""Daphne's CPU per request, requests sent one at a time (issue: connectors). Prints figures; not a pass/fail
test.

One Daphne serving `hub.asgi` as `hub up` runs it, on PostgreSQL and Redis (Celery mode, a worker running
the tasks), then N sequential signed SMS webhooks from 100 returning customers, and N sequential
`GET /api/v1/me/` with an agent's token. With nothing else in flight, the CPU the Daphne process spent per
request (from /proc) shows what the request path costs, without the queueing of the latency runs. Run it in
two checkouts in turn to compare code.

    .venv/bin/python bench/request_cpu.py            # 1,000 of each
    .venv/bin/python bench/request_cpu.py --count 500
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent)]

from bench.connectors import _cpu_seconds, _env, setup_accounts, sms_request  # noqa: E402
from bench.ingest import PG_BENCH, REDIS, _recreate_pg, wait_for_port  # noqa: E402


def child_setup() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from hub.actions.agents import do_create_agent

    call_command("migrate", verbosity=0)
    setup_accounts()
    user = do_create_agent("bench-agent", password="bench-pass", display_name="Bench", role="agent", teams=[])
    print(Token.objects.create(user=user).key)


async def _run(port: int, token: str, count: int, daphne: int) -> dict[str, float]:
    import aiohttp

    await wait_for_port(port)
    results: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        async def post(i: int) -> None:
            r = sms_request(i, i % 100)
            async with session.post(f"http://127.0.0.1:{port}{r.path}", data=r.body, headers={
                    "Content-Type": r.content_type, "Host": "127.0.0.1:8000", **r.headers}) as resp:
                await resp.read()
                assert resp.status == 200, resp.status

        async def me(i: int) -> None:
            async with session.get(f"http://127.0.0.1:{port}/api/v1/me/", headers={
                    "Authorization": f"Token {token}", "Host": "127.0.0.1:8000"}) as resp:
                await resp.read()
                assert resp.status == 200, resp.status  # 429 past the throttle's 1,200 a minute

        for name, one, base in (("sms webhook", post, 60_000_000), ("GET /api/v1/me/", me, 0)):
            for i in range(100):  # warm: the customers exist, the statements are prepared
                await one(base + i)
            cpu, started = _cpu_seconds(daphne), time.perf_counter()
            for i in range(count):
                await one(base + 1000 + i)
            results[name] = (_cpu_seconds(daphne) - cpu) * 1000 / count
            results[name + " wall"] = (time.perf_counter() - started) * 1000 / count
            if name == "sms webhook":
                await asyncio.sleep(65)  # the API throttle's window starts afresh
    return results


def main() -> None:
    if sys.argv[1:2] == ["_setup"]:
        child_setup()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=1000, help="requests of each kind (at most 1,100)")
    args = parser.parse_args()
    count = min(args.count, 1100)
    import redis

    _recreate_pg()
    redis.Redis.from_url(REDIS).flushdb()
    env = _env(PG_BENCH, tempfile.mkdtemp(prefix="hub-bench-"), REDIS, task_mode="celery")
    setup = subprocess.run([sys.executable, __file__, "_setup"], env=env, text=True, capture_output=True, check=False)
    if setup.returncode:
        raise SystemExit(f"setup failed: {setup.stderr[-3000:]}")
    token = setup.stdout.strip().splitlines()[-1]
    # The hub's own server, as `hub up --processes N` runs each web process (Daphne with the hub's HTTP
    # factory), on a socket bound here.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    daphne = subprocess.Popen([sys.executable, "-m", "hub.cli", "_serve-fd", str(listener.fileno()), "--no-access-log"],
                              env=env, pass_fds=(listener.fileno(),), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "hub.celery", "worker", "--loglevel=ERROR",
                               "--pool=solo"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        results = asyncio.run(_run(port, token, count, daphne.pid))
    finally:
        for proc in (daphne, worker):
            proc.terminate()
            proc.wait(10)
    for name in ("sms webhook", "GET /api/v1/me/"):
        print(f"{name:18s} Daphne CPU {results[name]:5.2f} ms per request, wall {results[name + ' wall']:5.2f} ms "
              f"({count} sequential)")


if __name__ == "__main__":
    main()
