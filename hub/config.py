"""Every `HUB_*` environment variable the hub reads, in one place.

docs/operations.md documents each one; tests/test_compose.py checks that docker-compose.yml only sets
variables listed here. Nothing is required: with no variable set, the embedded defaults apply.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Var:
    name: str
    default: str
    help: str


VARIABLES: tuple[Var, ...] = (
    Var("HUB_DATA_DIR", "./var", "Folder for the SQLite file, uploaded attachments, the embedded search index "
        "and the generated secret key."),
    Var("HUB_DATABASE_URL", "sqlite:///$HUB_DATA_DIR/hub.sqlite3", "Database URL; postgres://user@host/db for "
        "PostgreSQL."),
    Var("HUB_DATABASE_PREPARE", "1", "PostgreSQL: 1 binds parameters on the server and prepares the queries a "
        "connection repeats (parsed and planned once); 0 for a pooler that cannot keep prepared statements "
        "(PgBouncer in transaction mode before 1.21)."),
    Var("HUB_REDIS_URL", "", "Redis URL. When set: channels-redis for realtime fan-out and Celery on Redis for "
        "background work. When empty: in-memory channel layer and in-process tasks."),
    Var("HUB_BROKER_URL", "$HUB_REDIS_URL", "Celery broker URL, if it differs from HUB_REDIS_URL."),
    Var("HUB_TASK_MODE", "", "`celery`, `inprocess` or `sync` (run at commit, used by tests). Default: celery "
        "when a broker is configured, otherwise inprocess."),
    Var("HUB_ELASTICSEARCH_URL", "", "Elasticsearch URL. When empty the embedded search engine is used."),
    Var("HUB_SEARCH_INDEX", "hub-messages", "Name of the search index (on Elasticsearch: the alias in front of the "
        "versioned indices `hub reindex` builds)."),
    Var("HUB_SEARCH_TICK_SECONDS", "5", "How often the search indexer looks for changes no kick announced (and "
        "retries after the engine was down)."),
    Var("HUB_PUBLIC_URL", "http://127.0.0.1:8000", "The URL customers' providers and browsers reach the hub at "
        "(used for webhook signatures and links)."),
    Var("HUB_ALLOWED_HOSTS", "", "Extra comma-separated host names accepted, besides the host of HUB_PUBLIC_URL, "
        "localhost and 127.0.0.1."),
    Var("HUB_SECRET_KEY", "", "Django secret key. When empty one is generated once into HUB_DATA_DIR."),
    Var("HUB_DEBUG", "0", "1 for Django debug pages (never in production)."),
    Var("HUB_HOST", "127.0.0.1", "Interface `hub up` listens on."),
    Var("HUB_PORT", "8000", "Port `hub up` listens on."),
    Var("HUB_WEB_PROCESSES", "1", "Daphne processes `hub up` runs on its port, one core each at most (needs "
        "HUB_REDIS_URL and Celery when above 1); a process that dies is started again."),
    Var("HUB_WEB_THREADS", "16", "Threads per web process serving pages and API requests, each keeping its own "
        "database connection: at most this many such requests run at once in a process (more wait)."),
    Var("HUB_REOPEN_WINDOW_HOURS", "168", "A customer message within this many hours of resolution reopens the "
        "conversation; later it starts a new one."),
    Var("HUB_EVENT_RETENTION", "2000", "Realtime events kept per recipient for resume; a client further behind "
        "is told to reload."),
    Var("HUB_ROUTING_TICK_SECONDS", "2", "How often routing expires offers, overflows and retries waiting "
        "conversations (the in-process scheduler and Celery beat)."),
    Var("HUB_ROUTING_MAX_MISSED_OFFERS", "3", "Offers in a row an agent may let expire before routing sets them "
        "away."),
    Var("HUB_ROUTING_REOFFER_SECONDS", "120", "How long a conversation is not offered again to an agent who "
        "declined it or let it expire."),
    Var("HUB_PRESENCE_LEASE_SECONDS", "60", "How long an agent with no inbox connection open keeps their presence "
        "before the hub sets them offline (a reload or a network blip shorter than this changes nothing)."),
    Var("HUB_MAX_MESSAGE_CHARS", "65536", "Longest message text accepted; longer text is truncated and marked."),
    Var("HUB_MAX_ATTACHMENT_BYTES", "26214400", "Largest attachment stored (25 MiB)."),
    Var("HUB_OUTBOUND_MAX_RETRIES", "8", "Delivery attempts after the first before an outbound message fails."),
    Var("HUB_LOG_LEVEL", "INFO", "Log level of the hub's loggers."),
    # Connectors (docs/connectors.md). A channel's credentials configure its default account; other accounts
    # keep theirs in the channel account's config.
    Var("HUB_WEBHOOK_MAX_BYTES", "10485760", "Largest webhook request body accepted (10 MiB); larger ones are "
        "answered 413."),
    Var("HUB_WEBHOOK_ACCOUNT_CACHE_SECONDS", "5", "How long a web process keeps the channel account a webhook "
        "names; a change made in another process takes effect there within this time (0: look it up every time)."),
    Var("HUB_SMTP_PORT", "2525", "Port of the SMTP listener `hub up` starts for inbound mail; 0 turns it off."),
    Var("HUB_SMTP_HOST", "$HUB_HOST", "Interface the inbound SMTP listener binds to."),
    Var("HUB_SMTP_OUT_URL", "", "Outbound mail server, smtp://user:password@host:port (smtps:// for TLS from the "
        "start, ?starttls=1 to upgrade). When empty, outbound mail goes to the log connector."),
    Var("HUB_EMAIL_WEBHOOK_TOKEN", "", "Bearer token a relay service sends to POST /webhooks/email/<account>; "
        "when empty that route refuses every request for the default account."),
    Var("HUB_EMAIL_REPLY_DOMAIN", "", "Domain of the per-conversation reply addresses (reply+token@domain); "
        "default: the domain of HUB_EMAIL_ADDRESS."),
    Var("HUB_IMAP_URL", "", "A mailbox to poll, imaps://user:password@host:port/INBOX (imap:// for plain), "
        "for the default email account; empty: no polling."),
    Var("HUB_IMAP_POLL_SECONDS", "30", "How often IMAP mailboxes are polled."),
    Var("HUB_TWILIO_ACCOUNT_SID", "", "Twilio account SID of the default SMS and voice accounts."),
    Var("HUB_TWILIO_AUTH_TOKEN", "", "Twilio auth token: signs Twilio's webhooks and authenticates API calls."),
    Var("HUB_TWILIO_FROM_NUMBER", "", "Twilio number (E.164) of the default SMS account; default: HUB_SMS_NUMBER."),
    Var("HUB_TWILIO_API_BASE", "https://api.twilio.com", "Base URL of Twilio's REST API (a local server in tests)."),
    Var("HUB_SLACK_SIGNING_SECRET", "", "Slack app signing secret: verifies the Events API requests."),
    Var("HUB_SLACK_BOT_TOKEN", "", "Slack bot token (xoxb-...) for chat.postMessage."),
    Var("HUB_SLACK_API_BASE", "https://slack.com/api/", "Base URL of Slack's Web API (a local server in tests)."),
    Var("HUB_WEIBO_APP_KEY", "", "Weibo-style platform app key of the default social account."),
    Var("HUB_WEIBO_APP_SECRET", "", "App secret: signs the platform's pushed events."),
    Var("HUB_WEIBO_ACCESS_TOKEN", "", "Access token for the platform's API (replies)."),
    Var("HUB_WEIBO_API_BASE", "https://api.weibo.com", "Base URL of the platform's API (a local server in tests)."),
    Var("HUB_EMAIL_ADDRESS", "support@example.com", "Address of the default email account."),
    Var("HUB_SMS_NUMBER", "+15005550006", "Number of the default SMS account (E.164)."),
    Var("HUB_VOICE_NUMBER", "+15005550006", "Number of the default voice account (E.164)."),
    Var("HUB_SOCIAL_ACCOUNT", "hub_support", "The default Weibo-style social account's uid (the receiver id of "
        "the events the platform pushes)."),
    Var("HUB_SLACK_TEAM", "T0000000", "Workspace (team) id of the default Slack account."),
    Var("HUB_WEBCHAT_KEY", "demo", "Public key of the default web chat widget account."),
)

_BY_NAME = {v.name: v for v in VARIABLES}


def env(name: str) -> str:
    """The value of a documented `HUB_*` variable, or its default."""
    if name not in _BY_NAME:
        raise KeyError(f"{name} is not a documented HUB_ variable; add it to hub/config.py")
    value = os.environ.get(name)
    if value is not None and value != "":
        return value
    default = _BY_NAME[name].default
    # Defaults written as "$OTHER..." only document a derived value; the helpers below derive it.
    return "" if default.startswith("$") else default


def env_int(name: str) -> int:
    raw = env(name)
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str) -> bool:
    return env(name).strip().lower() in {"1", "true", "yes", "on"}


def data_dir() -> Path:
    path = Path(env("HUB_DATA_DIR"))
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    url = os.environ.get("HUB_DATABASE_URL", "")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'hub.sqlite3'}"


def broker_url() -> str:
    return os.environ.get("HUB_BROKER_URL", "") or env("HUB_REDIS_URL")


def task_mode() -> str:
    mode = env("HUB_TASK_MODE").strip().lower()
    if mode:
        if mode not in {"celery", "inprocess", "sync"}:
            raise SystemExit(f"HUB_TASK_MODE must be celery, inprocess or sync, got {mode!r}")
        return mode
    return "celery" if broker_url() else "inprocess"


def secret_key() -> str:
    key = env("HUB_SECRET_KEY")
    if key:
        return key
    path = data_dir() / "secret_key"
    if not path.exists():
        # Created once with owner-only permissions so sessions survive restarts of `make run`.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def public_url() -> str:
    return env("HUB_PUBLIC_URL").rstrip("/")


def allowed_hosts() -> list[str]:
    hosts = {"localhost", "127.0.0.1", "[::1]", "testserver"}
    parsed = urlparse(public_url())
    if parsed.hostname:
        hosts.add(parsed.hostname)
    hosts.update(h.strip() for h in env("HUB_ALLOWED_HOSTS").split(",") if h.strip())
    return sorted(hosts)
