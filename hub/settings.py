"""Django settings, all derived from `HUB_*` variables (see hub/config.py and docs/operations.md)."""

from __future__ import annotations

import dj_database_url

from hub import config
from hub.events.layer_config import redis_channel_layer

BASE_DIR = config.BASE_DIR
DATA_DIR = config.data_dir()

SECRET_KEY = config.secret_key()
DEBUG = config.env_bool("HUB_DEBUG")
ALLOWED_HOSTS = config.allowed_hosts()
PUBLIC_URL = config.public_url()
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL, "http://127.0.0.1:" + config.env("HUB_PORT"),
                        "http://localhost:" + config.env("HUB_PORT")]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "hub.apps.HubConfig",
    "routing.apps.RoutingConfig",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hub.urls"
ASGI_APPLICATION = "hub.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = config.database_url()
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    # IMMEDIATE makes every transaction take the write lock up front, so concurrent writers queue on the
    # busy timeout instead of failing with "database is locked" when a read lock is upgraded.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    _db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif _db["ENGINE"].endswith("postgresql") and config.env("HUB_DATABASE_PREPARE") != "0":
    # Server-side binding lets psycopg prepare the statements a connection repeats (after 5 runs, its own
    # default; Django turns preparing off unless told): the ingestion path's queries are then parsed and
    # planned once per connection instead of once per message, about a third of PostgreSQL's CPU per
    # message (docs/PERFORMANCE.md).
    _db["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = config.env("HUB_REDIS_URL")
BROKER_URL = config.broker_url()
TASK_MODE = config.task_mode()
ELASTICSEARCH_URL = config.env("HUB_ELASTICSEARCH_URL")
HUB_SEARCH_INDEX = config.env("HUB_SEARCH_INDEX")
# Index changes as they commit (tests turn it off except where they test search).
SEARCH_AUTO_INDEX = True

if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "hub.events.memory_layer.HubInMemoryChannelLayer",
                                  "CONFIG": {"capacity": 1500}}}

# Counters that several processes must share (the chat widget's rate limits, web/chat_limits.py) live in
# Redis when there is one; the embedded default is one process, whose memory is enough.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "hub", "OPTIONS": {"pool_class": "hub.redis_pool.SharedConnectionPool"}}}

CELERY_BROKER_URL = BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Search indexing runs on a queue of its own, so that routing, delivery and the rest never wait behind a bulk
# index write (bench/routing.py: a worker doing both fell behind at 30 arrivals/s). `hub worker` consumes both
# queues unless told otherwise; docs/operations.md shows how to give each its own worker.
SEARCH_QUEUE = "search"
CELERY_TASK_ROUTES = {"hub.tasks.index_search": {"queue": SEARCH_QUEUE},
                      "hub.tasks.search_tick": {"queue": SEARCH_QUEUE}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"

LOGIN_URL = "/login/"
# The second keeps the sessions signed in before the first existed (a session names its backend).
AUTHENTICATION_BACKENDS = ["hub.auth_backends.AgentModelBackend", "django.contrib.auth.backends.ModelBackend"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "hub.auth_backends.AgentTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "hub.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "hub.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"user": "1200/min"},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Omnichannel hub API",
    "DESCRIPTION": "Conversations, messages, customers, agents and teams of the contact center.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}

HUB_REOPEN_WINDOW_HOURS = config.env_int("HUB_REOPEN_WINDOW_HOURS")
HUB_EVENT_RETENTION = config.env_int("HUB_EVENT_RETENTION")
HUB_MAX_MESSAGE_CHARS = config.env_int("HUB_MAX_MESSAGE_CHARS")
HUB_MAX_ATTACHMENT_BYTES = config.env_int("HUB_MAX_ATTACHMENT_BYTES")
HUB_WEBHOOK_MAX_BYTES = config.env_int("HUB_WEBHOOK_MAX_BYTES")
# How long a web process keeps the channel accounts webhooks name (hub/connector_port.py WebhookAccounts).
HUB_WEBHOOK_ACCOUNT_CACHE_SECONDS = config.env_int("HUB_WEBHOOK_ACCOUNT_CACHE_SECONDS")
HUB_WEBHOOKS_IN_THREAD_POOL = True  # hub/webhooks.py; the test settings turn it off
# Pages and API requests run on a pool of HUB_WEB_THREADS threads that keep their database connections
# (hub/asgi_handlers.py); the test settings turn it off.
HUB_REQUESTS_IN_THREAD_POOL = True
HUB_WEB_THREADS = config.env_int("HUB_WEB_THREADS")
# Webhook bodies up to HUB_WEBHOOK_MAX_BYTES are read into memory (raw mail, provider JSON); the webhook view
# answers a larger one 413 itself.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(HUB_WEBHOOK_MAX_BYTES, 2621440)
HUB_OUTBOUND_MAX_RETRIES = config.env_int("HUB_OUTBOUND_MAX_RETRIES")
HUB_ROUTING_TICK_SECONDS = config.env_int("HUB_ROUTING_TICK_SECONDS")
HUB_ROUTING_MAX_MISSED_OFFERS = config.env_int("HUB_ROUTING_MAX_MISSED_OFFERS")
HUB_ROUTING_REOFFER_SECONDS = config.env_int("HUB_ROUTING_REOFFER_SECONDS")
HUB_PRESENCE_LEASE_SECONDS = config.env_int("HUB_PRESENCE_LEASE_SECONDS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # One handler, on the root logger, that everything propagates to: the hub's loggers set only their
    # level, and Celery is told not to install its own root handler, so a worker prints each line once.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "hub": {"level": config.env("HUB_LOG_LEVEL")},
        "connectors": {"level": config.env("HUB_LOG_LEVEL")},
        "web": {"level": config.env("HUB_LOG_LEVEL")},
        "routing": {"level": config.env("HUB_LOG_LEVEL")},
        "search": {"level": config.env("HUB_LOG_LEVEL")},
        "celery": {"level": "INFO"},
    },
}
