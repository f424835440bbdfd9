"""Settings for the test suite: the hub's own, with tasks run at commit and files in a temporary folder.
The environment is set before hub.settings reads it."""

import os
import tempfile

os.environ.setdefault("HUB_TASK_MODE", "sync")
os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="hub-test-"))

from hub.settings import *  # noqa: F403
