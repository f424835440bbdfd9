"""Run by `make test` before its PostgreSQL pass: is PostgreSQL there? Without it the pass is skipped,
unless HUB_TEST_REQUIRE_SERVICES=1 (CI), where a missing service fails the run."""

from __future__ import annotations

import os
import sys

import dj_database_url
import psycopg


def main() -> int:
    url = os.environ.get("HUB_DATABASE_URL", "")
    cfg = dj_database_url.parse(url)
    try:
        with psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
                             password=cfg.get("PASSWORD") or None, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        if os.environ.get("HUB_TEST_REQUIRE_SERVICES") == "1":
            print(f"PostgreSQL is required (HUB_TEST_REQUIRE_SERVICES=1) but unreachable: {exc}", file=sys.stderr)
            return 1
        print(f"PostgreSQL unreachable ({exc}); skipping the PostgreSQL pass", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
