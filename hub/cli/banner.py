"""What `hub up` and `hub seed-demo` tell the person at the terminal: where to go and how to log in."""

from __future__ import annotations

import sys

from django.conf import settings
from rich.console import Console
from rich.table import Table

from hub.cli.database import describe


def _console() -> Console:
    # Soft-wrapped and at least 100 columns even when piped, so logins and URLs are never cut.
    return Console(file=sys.stdout, width=max(100, Console().width), soft_wrap=True, highlight=False)


def print_logins() -> None:
    from hub.demo import LOGINS, is_loaded

    if not is_loaded():
        return
    table = Table(title="Demo logins (as seeded; change them before exposing the hub)", title_justify="left")
    for column in ("username", "password", "name", "role", "teams"):
        table.add_column(column)
    for login in LOGINS:
        table.add_row(login.username, login.password, login.display_name, login.role,
                      ", ".join(login.teams) or "-")
    console = _console()
    console.print(table)
    console.print("API token for scripts: [bold]hub token alice[/bold]")
    console.file.flush()


def print_running(url: str, *, demo_loaded_now: bool, requeued: int, processes: int = 1) -> None:
    console = _console()
    console.print()
    console.print(f"[bold green]The hub is running at {url}/[/bold green]")
    console.print(f"  admin    {url}/admin/")
    console.print(f"  API      {url}/api/v1/   (documentation: {url}/api/docs/)")
    console.print(f"  health   {url}/healthz   {url}/readyz")
    console.print(f"  data     {describe()}")
    if processes > 1:
        console.print(f"  web      {processes} processes on this port, each started again if it dies")
    if settings.TASK_MODE == "celery":
        console.print("  tasks    on Celery: run `hub worker` and `hub beat` beside this process")
    else:
        note = f", {requeued} queued replies resumed" if requeued else ""
        console.print(f"  tasks    in this process{note}")
    if demo_loaded_now:
        console.print("  demo     loaded now: customers, conversations in English and Chinese")
    print_logins()
    console.print("Stop with Ctrl+C.")
    console.file.flush()
