"""`hub token` and `hub createagent`."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from hub.actions.agents import do_create_agent
from hub.cli.agents import api_token
from hub.cli.database import require_schema
from hub.cli.errors import CliError


def run_token(args: argparse.Namespace) -> int:
    require_schema()
    # Plain output, so that scripts can do TOKEN=$(hub token alice).
    print(api_token(args.username))
    return 0


def parse_skills(values: list[str]) -> dict[str, int]:
    skills: dict[str, int] = {}
    for value in values:
        name, _, level = value.partition("=")
        try:
            skills[name.strip()] = int(level) if level else 3
        except ValueError as exc:
            raise CliError(f"--skill {value!r}: the level must be a number from 1 to 5") from exc
    return skills


def parse_capacity(values: list[str]) -> dict[str, int]:
    capacity: dict[str, int] = {}
    for value in values:
        channel, sep, units = value.partition("=")
        try:
            capacity[channel.strip()] = int(units)
        except ValueError as exc:
            raise CliError(f"--capacity {value!r}: write CHANNEL=UNITS, e.g. webchat=2") from exc
        if not sep:
            raise CliError(f"--capacity {value!r}: write CHANNEL=UNITS, e.g. webchat=2")
    return capacity


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set, and whether it was generated (and must be shown)."""
    if args.password:
        return args.password, False
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CliError("the passwords do not match")
        return first, False
    return secrets.token_urlsafe(12), True


def run_createagent(args: argparse.Namespace) -> int:
    require_schema()
    skills = parse_skills(args.skill)
    capacity = parse_capacity(args.capacity)
    password, generated = _password(args)
    try:
        validate_password(password)
    except ValidationError as exc:
        raise CliError("password rejected: " + " ".join(exc.messages)) from exc
    user = do_create_agent(args.username, password=password, display_name=args.name, role=args.role,
                        teams=args.team, skills=skills, capacity=capacity, language=args.language, email=args.email)
    teams = ", ".join(args.team) or "no team"
    print(f"Created {args.role} {user.username!r} ({teams}).")
    if generated:
        print(f"Password: {password}")
    return 0
