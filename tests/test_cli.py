from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token

from hub.actions.ingestion import do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.cli import embedded, main
from hub.models import AgentProfile, Conversation, Message, Team
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_hub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`hub` in a child process, for what cannot be changed once Django is set up (the database URL)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    child_env.update(env)
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True,
                          encoding="utf-8", env=child_env, cwd=REPO, timeout=60, check=False)


def test_token_for_a_known_user_is_printed_and_stable(capsys: pytest.CaptureFixture[str]) -> None:
    f.agent("alice")
    assert main(["token", "alice"]) == 0
    first = capsys.readouterr().out.strip()
    assert first == Token.objects.get(user__username="alice").key and len(first) == 40
    assert main(["token", "alice"]) == 0
    assert capsys.readouterr().out.strip() == first


def test_token_for_an_unknown_user_is_a_message_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "nobody"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == "hub: no user named 'nobody'"


def test_seed_demo_prints_the_logins_and_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-demo"]) == 0
    out = capsys.readouterr().out
    assert "Demo data loaded" in out
    for username, password in (("alice", "alice-demo"), ("wei", "wei-demo"), ("admin", "admin-demo")):
        assert username in out and password in out
    counts = (Conversation.objects.count(), Message.objects.count(), get_user_model().objects.count())
    assert main(["seed-demo"]) == 0
    assert "already loaded" in capsys.readouterr().out
    assert (Conversation.objects.count(), Message.objects.count(), get_user_model().objects.count()) == counts


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_worker_and_beat_refuse_without_a_broker(command: str, settings: Settings,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    settings.BROKER_URL = ""
    assert main([command]) == 1
    err = capsys.readouterr().err
    assert f"`hub {command}` needs a message broker" in err and "HUB_REDIS_URL" in err
    assert "Traceback" not in err


def test_migrate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert "Database ready" in capsys.readouterr().out


def test_createagent_with_role_team_and_skills(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["createagent", "zoe", "--role", "supervisor", "--team", "Billing", "--team", "中文支持",
                 "--password", "zoe-secret-1", "--skill", "language:zh=5", "--skill", "billing",
                 "--name", "Zoe Li", "--capacity", "webchat=2", "--capacity", "voice=0"]) == 0
    assert "Created supervisor 'zoe'" in capsys.readouterr().out
    profile = AgentProfile.objects.get(user__username="zoe")
    assert profile.role == "supervisor" and profile.display_name == "Zoe Li"
    assert set(profile.teams.values_list("name", flat=True)) == {"Billing", "中文支持"}
    assert dict(profile.skills.values_list("skill", "level")) == {"language:zh": 5, "billing": 3}
    assert profile.capacity == {"webchat": 2, "voice": 0}
    assert profile.user.check_password("zoe-secret-1") and not profile.user.is_superuser

    assert main(["createagent", "zoe", "--password", "another-pw-1"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_createagent_admin_is_a_superuser_and_a_generated_password_is_shown(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["createagent", "root", "--role", "admin"]) == 0
    password = capsys.readouterr().out.split("Password: ")[1].strip()
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser and user.is_staff and user.check_password(password)
    assert not Team.objects.exists()


@pytest.mark.parametrize("args, message", [
    (["--skill", "vip=9"], "level must be a whole number from 1 to 5"),
    (["--skill", "vip=high"], "must be a number"),
    (["--password", "short"], "password rejected"),
    (["--capacity", "webchat"], "CHANNEL=UNITS"),
    (["--capacity", "webchat=many"], "CHANNEL=UNITS"),
    (["--capacity", "fax=2"], "unknown channel 'fax'"),
    (["--capacity", "voice=2"], "0 or 1"),
])
def test_createagent_rejects_bad_input(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["createagent", "x", "--password", "long-enough-1", *args]) == 1
    assert message in capsys.readouterr().err
    assert not get_user_model().objects.filter(username="x").exists()


def test_manage_passes_through_to_django(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manage", "showmigrations", "hub"]) == 0
    assert "[X] 0001_initial" in capsys.readouterr().out


def test_a_management_command_of_the_hub_app_is_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    # `hub seed_demo` is hub/management/commands/seed_demo.py; `hub reindex` works the same way.
    assert main(["seed_demo"]) == 0
    assert "Demo data loaded" in capsys.readouterr().out
    assert main(["seed_demo"]) == 0
    assert "already loaded" in capsys.readouterr().out


def test_no_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("up", "worker", "beat", "migrate", "seed-demo", "token", "createagent", "manage"):
        assert command in out


def test_up_refuses_a_busy_port_before_touching_anything(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # main() writes --host/--port into the environment for the settings; monkeypatch restores them.
    monkeypatch.setenv("HUB_HOST", "127.0.0.1")
    monkeypatch.setenv("HUB_PORT", "8000")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["up", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in err and "HUB_PORT" in err
    assert "Preparing the database" not in out


def test_up_resumes_replies_left_queued_by_the_previous_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # The previous process stored the reply but died before delivering it.
    monkeypatch.setattr("hub.actions.outbound._enqueue_delivery", lambda message_id: None)
    alice = f.agent("alice")
    conv = do_ingest_message(f.account("sms"), f.inbound("hello")).message.conversation
    reply = do_send_reply(alice, conv, "hi there")  # type: ignore[arg-type]
    assert Message.objects.get(pk=reply.pk).status == "queued"
    assert embedded.requeue_outbound() == 1
    assert Message.objects.get(pk=reply.pk).status == "sent"
    assert embedded.requeue_outbound() == 0


def test_up_registers_the_periodic_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[tuple[float, str]] = []
    monkeypatch.setattr(embedded.runner, "every",
                        lambda seconds, func: registered.append((seconds, getattr(func, "__name__", ""))))
    embedded.start_periodic_jobs()
    assert sorted(registered) == [(2.0, "routing_tick"), (5.0, "search_tick"), (20.0, "expire_presence"),
                                  (30.0, "do_wake_snoozed"),
                                  (30.0, "poll_channels"), (60.0, "requeue_stale_outbound"), (600.0, "prune_events"),
                                  (3600.0, "prune_webchat_uploads"), (3600.0, "prune_webhook_deliveries")]
    # The same jobs as Celery beat runs in production.
    from hub.celery import app

    beat = {entry["task"].rsplit(".", 1)[1]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert {name.replace("do_", ""): seconds for seconds, name in registered} == beat


def test_unreachable_database_is_one_line_without_traceback() -> None:
    result = run_hub("migrate", HUB_DATABASE_URL="postgres://postgres:secret@127.0.0.1:1/nowhere",
                     HUB_DATA_DIR=os.environ["HUB_DATA_DIR"])
    assert result.returncode == 1
    assert result.stderr.startswith("hub: cannot reach the database at postgres://postgres:***@127.0.0.1:1/nowhere: ")
    assert "Traceback" not in result.stderr and "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_setting_is_a_message() -> None:
    result = run_hub("migrate", HUB_TASK_MODE="sometimes", HUB_DATA_DIR=os.environ["HUB_DATA_DIR"])
    assert result.returncode == 1
    assert result.stderr.strip() == "hub: HUB_TASK_MODE must be celery, inprocess or sync, got 'sometimes'"


@pytest.mark.parametrize(("given", "queues"), [
    ([], "--queues=celery,search"),
    (["-Q", "search"], None),
    (["--queues=celery"], None),
])
def test_a_worker_takes_both_queues_unless_told(monkeypatch: pytest.MonkeyPatch, settings: Settings,
                                                 given: list[str], queues: str | None) -> None:
    """Search indexing has a queue of its own (routing never waits behind an index write); one worker
    still does everything by default."""
    import argparse

    from hub.celery import app
    from hub.cli import celery_commands

    settings.BROKER_URL = "redis://127.0.0.1:6379/15"
    monkeypatch.setattr(celery_commands, "ensure_reachable", lambda: None)
    started: list[list[str]] = []
    monkeypatch.setattr(app, "worker_main", lambda argv: started.append(argv))
    celery_commands.run_worker(argparse.Namespace(args=given))
    assert started[0][:2] == ["worker", "--loglevel=INFO"]
    assert (queues in started[0]) if queues else not any(a.startswith("--queues=celery,") for a in started[0])
    assert app.amqp.router.route({}, "hub.tasks.index_search")["queue"].name == "search"
    assert app.amqp.router.route({}, "hub.tasks.routing_tick")["queue"].name == "celery"


@pytest.mark.parametrize(("processes", "message"), [
    ("2", "2 web processes need HUB_REDIS_URL"),
    ("0", "the number of web processes must be at least 1, got 0"),
])
def test_up_refuses_several_web_processes_in_the_embedded_mode(processes: str, message: str) -> None:
    result = run_hub("up", "--processes", processes, HUB_DATA_DIR=os.environ["HUB_DATA_DIR"], HUB_PORT="0")
    assert result.returncode == 1
    assert result.stderr.startswith(f"hub: {message}") and "Traceback" not in result.stderr
    assert "Preparing the database" not in result.stdout


def test_up_refuses_a_web_process_without_request_threads() -> None:
    result = run_hub("up", HUB_DATA_DIR=os.environ["HUB_DATA_DIR"], HUB_PORT="0", HUB_WEB_THREADS="0")
    assert result.returncode == 1
    assert result.stderr.startswith("hub: HUB_WEB_THREADS must be at least 1, got 0"), result.stderr
    assert "Preparing the database" not in result.stdout
