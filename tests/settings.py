"""Settings for the test suite: the hub's own, with tasks run at commit and files in a temporary folder.
The environment is set before hub.settings reads it."""

import os
import tempfile

os.environ.setdefault("HUB_TASK_MODE", "sync")
os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="hub-test-"))

from hub.settings import *  # noqa: F403

# Threads the tests start (a Celery worker, racing writers) must not keep the test database open after
# their task, or PostgreSQL refuses to drop it at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Webhooks run on the calling thread, so that a test's own transaction and connection see what they store
# (tests/connectors/test_webhooks.py runs the thread-pool path too).
HUB_WEBHOOKS_IN_THREAD_POOL = False
HUB_REQUESTS_IN_THREAD_POOL = False  # the same for pages and the API (hub/asgi_handlers.py)

# Indexing on every commit would write a search index in every test; tests/search turns it back on.
SEARCH_AUTO_INDEX = False
