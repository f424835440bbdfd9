"""The `hub` command: `hub up` runs everything on one machine; the other subcommands are for operators.

Each subcommand's work lives in the module named after it; this module parses arguments, sets Django up
and turns failures into one-line messages with a non-zero exit code (never a traceback, unless HUB_DEBUG=1).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from hub.cli import simulate
from hub.cli.errors import CliError, one_line
from hub.cli.server_names import SERVE_FD_COMMAND

COMMANDS = ("up", "migrate", "seed-demo", "token", "createagent", "manage", "worker", "beat", "simulate")
# Subcommands whose arguments belong to another program (Django's or Celery's) and are passed on as given.
PASSTHROUGH = ("manage", "worker", "beat")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description="Omnichannel conversation hub. Configuration: HUB_* environment variables "
        "(docs/operations.md).",
        epilog="A management command of the hub app (hub/management/commands/NAME.py) also runs as `hub NAME`.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    up = sub.add_parser("up", help="migrate, load the demo on first run, and serve (HTTP and websockets)",
                        description="Migrate, create the default channel accounts, load the demo data on first "
                        "run, then serve on HUB_HOST:HUB_PORT. Without HUB_REDIS_URL, background work runs in "
                        "this process too.")
    up.add_argument("--host", help="interface to listen on (default: HUB_HOST, 127.0.0.1)")
    up.add_argument("--port", type=int, help="port to listen on (default: HUB_PORT, 8000)")
    up.add_argument("--no-demo", action="store_true", help="do not load the demo data on first run")
    up.add_argument("--no-access-log", action="store_true", help="do not print a line per request")
    up.add_argument("--processes", type=int, metavar="N",
                    help="web processes sharing the port (default: HUB_WEB_PROCESSES, 1); above 1 needs Redis")

    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed-demo", help="load the demo data (does nothing if it is already loaded)")

    token = sub.add_parser("token", help="print a user's API token (created on first use)")
    token.add_argument("username")

    create = sub.add_parser("createagent", help="create an agent, supervisor or admin account")
    create.add_argument("username")
    create.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    create.add_argument("--team", action="append", default=[], metavar="NAME",
                        help="team to join (repeatable; created if missing)")
    create.add_argument("--password", help="password (default: asked for, or generated and printed)")
    create.add_argument("--name", default="", help="display name shown to colleagues and customers")
    create.add_argument("--skill", action="append", default=[], metavar="SKILL[=LEVEL]",
                        help="skill with a level 1-5, e.g. language:zh=5 (repeatable; level defaults to 3)")
    create.add_argument("--capacity", action="append", default=[], metavar="CHANNEL=UNITS",
                        help="conversations at once on a channel, e.g. webchat=2 (repeatable; 0: never offered "
                             "that channel; unset channels take the default)")
    create.add_argument("--language", default="en", help="interface language (en, zh-hans)")
    create.add_argument("--email", default="")

    for name, text in (("manage", "run a Django management command, e.g. `hub manage showmigrations`"),
                       ("worker", "run a Celery worker (needs HUB_REDIS_URL or HUB_BROKER_URL)"),
                       ("beat", "run Celery beat, the periodic jobs (needs HUB_REDIS_URL or HUB_BROKER_URL)")):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("args", nargs=argparse.REMAINDER, help="passed on unchanged")

    # Listed for `hub --help`; main() runs it with its own parser (hub/cli/simulate.py), without Django.
    simulate.add_arguments(sub.add_parser("simulate", help=simulate.HELP, description=simulate.DESCRIPTION))
    return parser


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()


def _is_hub_management_command(name: str) -> bool:
    """Whether `name` is a management command of the hub app, which `hub NAME` runs (`hub reindex`...)."""
    if name.startswith("-") or name in COMMANDS:
        return False
    try:
        _setup_django()
    except (Exception, SystemExit):
        return False  # argparse answers "invalid choice"; a real command reports the configuration error
    from django.core.management import get_commands

    return get_commands().get(name) == "hub"


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    # Imported after django.setup(): these modules import models.
    from hub.cli import accounts, celery_commands, data, up

    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "up": up.run, "migrate": data.run_migrate, "seed-demo": data.run_seed_demo, "token": accounts.run_token,
        "createagent": accounts.run_createagent, "manage": data.run_manage, "worker": celery_commands.run_worker,
        "beat": celery_commands.run_beat,
    }
    return handlers[command]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        # Pure computation: no settings to read, no database to reach, so Django is never set up.
        return simulate.main(argv[1:])
    if argv and argv[0] == SERVE_FD_COMMAND:
        return _serve_fd(argv[1:])
    parser = build_parser()
    if argv and argv[0] in PASSTHROUGH:
        # argparse would take their options (--help, --loglevel...) for its own.
        args = argparse.Namespace(command=argv[0], args=argv[1:])
    elif argv and _is_hub_management_command(argv[0]):
        args = argparse.Namespace(command="manage", args=argv)
    else:
        args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        if args.command == "up":
            # Before the settings are read: they derive the trusted origins from the port.
            if args.host:
                os.environ["HUB_HOST"] = args.host
            if args.port:
                os.environ["HUB_PORT"] = str(args.port)
        _setup_django()
        return _handler(args.command)(args)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:
        # hub/config.py stops with a message on a malformed HUB_* variable.
        if isinstance(exc.code, str):
            print(f"hub: {exc.code}", file=sys.stderr)
            return 1
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:
        return _report(exc)


def _serve_fd(argv: list[str]) -> int:
    """A web process `hub up` started (hub/cli/server.py): not a command for people, so not in the help."""
    parser = argparse.ArgumentParser(prog=f"hub {SERVE_FD_COMMAND}")
    parser.add_argument("fd", type=int)
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    try:
        _setup_django()
        from hub.cli.server import serve_fd

        serve_fd(args.fd, access_log=not args.no_access_log)
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _report(exc)


def _report(exc: Exception) -> int:
    from django.db import DatabaseError

    from hub.actions import ActionError

    if isinstance(exc, CliError):
        print(f"hub: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, ActionError):
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, DatabaseError):
        print(f"hub: database error: {one_line(exc)}", file=sys.stderr)
        return 1
    if os.environ.get("HUB_DEBUG", "") in ("1", "true", "yes", "on"):
        traceback.print_exc()
    else:
        print(f"hub: unexpected error: {type(exc).__name__}: {one_line(exc)} (HUB_DEBUG=1 shows the traceback)",
              file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
