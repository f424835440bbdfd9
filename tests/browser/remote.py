"""Run Python in a browser test's hub environment: `python -m tests.browser.remote` reads
{"code": ..., "params": {...}} on stdin, runs the code with Django set up on that hub's data folder (its
SQLite file), and prints the JSON of the `result` it leaves. Tests seed data and read state through it, so
the hub under test is exactly what `hub up` serves."""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    request = json.loads(sys.stdin.read())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    import django

    django.setup()
    namespace: dict[str, object] = {"params": request.get("params", {}), "result": None}
    exec(request["code"], namespace)
    sys.stdout.write("\n" + json.dumps(namespace["result"], default=str) + "\n")


if __name__ == "__main__":
    main()
