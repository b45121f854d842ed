"""Django settings, read from the environment (see .env.example for every variable).

With nothing set but DJANGO_DEBUG, the project runs on embedded defaults: SQLite, the in-memory
channel layer and the local-memory cache. REDIS_URL and DATABASE_URL switch to shared services.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file fills in variables the environment does not set. DJANGO_ENV_FILE names another
# file, or none when empty (the test suite's setting: tests see the environment only).
ENV_FILE = env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")) or None
if ENV_FILE and Path(ENV_FILE).is_file():
    env.read_env(ENV_FILE)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=on for development).")
    # A fresh key per run: a constant here would be public, and tokens signed with it valid
    # on every copy of the project. Tokens and sessions last until the server restarts.
    SECRET_KEY = secrets.token_urlsafe(50)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "realtime.admin_site.ThrottledAdminConfig",  # django.contrib.admin, login throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: its runserver (daphne's, serving ASGI and WebSockets) is manage.py's.
    "realtime",
    "django.contrib.staticfiles",
    "corsheaders",  # CORS headers for a frontend on another origin (CORS_ALLOWED_ORIGINS)
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # POST /api/logout/
    "drf_spectacular",  # the OpenAPI schema of the JSON API (realtime/api_schema.py)
    "users",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # As high as possible, before any middleware that may answer (django-cors-headers' docs); after
    # SecurityMiddleware, so that plain HTTP is redirected before anything else.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

AUTH_USER_MODEL = "users.User"

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Security. With DEBUG off, HTTPS is assumed: plain HTTP is redirected and cookies are Secure.
# Behind a proxy that terminates TLS, the app must learn the original scheme: uvicorn takes it
# from X-Forwarded-Proto sent by the addresses in FORWARDED_ALLOW_IPS (loopback by default);
# otherwise turn on DJANGO_SECURE_PROXY_SSL_HEADER, but only behind a proxy that sets that header
# itself, or any client could claim HTTPS. HSTS is opt-in: only the operator knows that every
# host name involved will serve HTTPS for as long as browsers are told to remember it.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)

# CORS (django-cors-headers): the origins, as scheme://host[:port], whose pages may call the API,
# say a single-page app served from another host. None by default. The API takes bearer tokens,
# never cookies, so credentialed CORS stays off.
CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])

# Shared services. Without REDIS_URL everything lives in this one process, which is right for
# development and tests; any deployment with more than one worker process needs REDIS_URL.
REDIS_URL = env.str("REDIS_URL", default="")
# Namespace for this project's keys, so that several projects (or test runs) can share one Redis.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="{{ cookiecutter.project_slug }}")

# The channel layer on Redis (README: "Channel layer"). `pubsub`: Redis Pub/Sub, each socket
# queueing at most CHANNEL_BACKLOG_LIMIT messages in its process (past that it is closed with
# 4408); `core`: channels-redis's list-based layer, each process's inbox holding at most
# CHANNEL_LAYER_CAPACITY messages and forgetting group members after CHANNEL_GROUP_EXPIRY seconds.
CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="pubsub")
if CHANNEL_LAYER not in ("pubsub", "core"):
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be pubsub or core, not {CHANNEL_LAYER!r}")
CHANNEL_BACKLOG_LIMIT = env.int("CHANNEL_BACKLOG_LIMIT", default=1000)
CHANNEL_LAYER_CAPACITY = env.int("CHANNEL_LAYER_CAPACITY", default=10_000)
CHANNEL_GROUP_EXPIRY = env.int("CHANNEL_GROUP_EXPIRY", default=86400)
# The channel layer's Redis servers (README: "Beyond one Redis"): each group and channel lives on
# one of them, chosen by a hash of its name; every process must list the same servers in the same
# order. The cache (tickets, throttles, connection limits, presence, history) stays on REDIS_URL.
CHANNEL_REDIS_URLS = env.list("CHANNEL_REDIS_URLS", default=[REDIS_URL] if REDIS_URL else [])
if CHANNEL_REDIS_URLS and not REDIS_URL:
    raise ImproperlyConfigured("CHANNEL_REDIS_URLS needs REDIS_URL (the cache) set as well")

if REDIS_URL and CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.BacklogPubSubChannelLayer",
            "CONFIG": {
                # Two connections per process and host (one publishes, one listens), so no pool
                # options. Connecting fails fast: an unreachable Redis refuses handshakes. RESP2,
                # as for the core layer below (redis-py#4252).
                "hosts": [
                    {"address": url, "socket_connect_timeout": 2, "protocol": 2}
                    for url in CHANNEL_REDIS_URLS
                ],
                "prefix": f"{REDIS_KEY_PREFIX}:channels",
                "backlog_limit": CHANNEL_BACKLOG_LIMIT,
            },
        },
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.BoundedRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": url,
                        # Connections per process; past that, a command waits for a free one
                        # (up to `timeout` seconds) instead of failing: bursts of handshakes queue.
                        "max_connections": 50,
                        "timeout": 5,
                        # The layer's reader blocks on idle groups by design, and redis-py's
                        # default read timeout kills idle sockets (channels_redis#422).
                        "socket_timeout": None,
                        # Connecting still fails fast: an unreachable Redis refuses handshakes.
                        "socket_connect_timeout": 2,
                        # RESP2: on RESP3, redis-py 8.1's asyncio pool hands out connections that
                        # a restarted Redis has closed, and their next command fails
                        # (redis-py#4252). RESP2 connections are checked and replaced.
                        "protocol": 2,
                    }
                    for url in CHANNEL_REDIS_URLS
                ],
                "prefix": f"{REDIS_KEY_PREFIX}:channels",
                # channels-redis's default (100) drops group messages as soon as a process has
                # 100 waiting: 1,000 sockets in their own rooms sending at once lost 896.
                "capacity": CHANNEL_LAYER_CAPACITY,
                "group_expiry": CHANNEL_GROUP_EXPIRY,
            },
        },
    }
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_KEY_PREFIX}:cache",
            # Fail fast when Redis is unreachable instead of hanging a request. RESP2, as for the
            # channel layer: tickets go through a redis.asyncio client on these options.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2, "protocol": 2},
        },
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # Its queue per socket holds 100 messages by default, past which a group message is
            # dropped without a word: the same bound per socket as the Pub/Sub layer instead.
            "CONFIG": {"capacity": CHANNEL_BACKLOG_LIMIT},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            # LocMem evicts at 300 entries by default: valid tickets would vanish under load.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        },
    }

# Seconds a channel-layer call may take (joining a group, a chat message, a logout's broadcast):
# past it, a handshake is refused, an open socket closes with 1013, an API request gets a 503. The
# layer's reads of idle channels are not bounded (realtime/redis_outages.py).
CHANNEL_LAYER_TIMEOUT = env.float("CHANNEL_LAYER_TIMEOUT", default=3.0)
# Seconds each check of /readyz (database, cache, channel layer) may take (realtime/health.py).
READINESS_TIMEOUT = env.float("READINESS_TIMEOUT", default=1.0)

REST_FRAMEWORK = {
    # Bearer JWTs only: a session cookie does not authenticate the API (no CSRF surface).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's JWTAuthentication, refusing tokens of ended sessions (realtime/sign_ins.py).
        "realtime.sign_ins.SessionJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Redis unreachable (cache, throttling, tickets): 503 with Retry-After instead of a 500.
    "EXCEPTION_HANDLER": "realtime.redis_outages.api_exception_handler",
    # Throttles count per REMOTE_ADDR, never per a client's own X-Forwarded-For: behind a proxy,
    # the ASGI server puts the forwarded address there for trusted proxies only.
    "NUM_PROXIES": 0,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema, at /api/schema/ with DEBUG on (config/urls.py), or from
# `manage.py spectacular --file schema.yaml`.
SPECTACULAR_SETTINGS = {
    "TITLE": "{{ cookiecutter.project_slug }} API",
    "DESCRIPTION": "Sign-in and WebSocket credentials; WebSocket frames and close codes: README.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": [
        "realtime.api_schema.api_endpoints",
{%- if cookiecutter.auth_mode == "ticket" %}
        "realtime.ticket_schema.add_ticket_endpoint",
{%- endif %}
    ],
}

# Sign-in attempts (`/api/token/` and the admin's login page) per username and per client
# address, and token refreshes per client address: DRF's rate format, as for tickets.
SIGN_IN_RATE_PER_USERNAME = env.str("SIGN_IN_RATE_PER_USERNAME", default="10/min")
SIGN_IN_RATE_PER_ADDRESS = env.str("SIGN_IN_RATE_PER_ADDRESS", default="30/min")
TOKEN_REFRESH_RATE_PER_ADDRESS = env.str("TOKEN_REFRESH_RATE_PER_ADDRESS", default="60/min")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TOKEN_LIFETIME", default=300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env.int("JWT_REFRESH_TOKEN_LIFETIME", default=86400)
    ),
    # At least 32 bytes, and not a known development key (system check realtime.E003).
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    # Tokens name who issued them and for whom: a token from another service sharing the key
    # is refused.
    "AUDIENCE": env.str("JWT_AUDIENCE", default="{{ cookiecutter.project_slug }}"),
    "ISSUER": env.str("JWT_ISSUER", default="{{ cookiecutter.project_slug }}"),
    "LEEWAY": env.int("JWT_LEEWAY", default=0),
    "UPDATE_LAST_LOGIN": False,
    # Each refresh returns a new refresh token and blacklists the one sent.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a hash of the user's stored password hash: changing the password revokes them.
    "CHECK_REVOKE_TOKEN": True,
    # Sign-in starts a session named in the tokens' `sid` claim; refresh and logout check and end
    # it (realtime/sign_ins.py).
    "TOKEN_OBTAIN_SERIALIZER": "realtime.sign_ins.SignInSerializer",
    "TOKEN_REFRESH_SERIALIZER": "realtime.sign_ins.RefreshSerializer",
    "TOKEN_BLACKLIST_SERIALIZER": "realtime.sign_ins.LogoutSerializer",
}

# WebSocket handshakes.
# Browsers always send Origin; native apps and servers usually do not, and cannot be
# cross-site-hijacked, so a missing Origin is allowed. Set to off to require one.
WS_ALLOW_MISSING_ORIGIN = env.bool("WS_ALLOW_MISSING_ORIGIN", default=True)

# WebSocket limits (realtime/limits.py). Frames: a socket may send WS_MESSAGE_BURST at once and
# WS_MESSAGE_RATE a second sustained. Sockets open at once per user, across every process.
# Frames over WS_MAX_FRAME_BYTES close the socket with 1009: serve with uvicorn's `--ws-max-size`
# set to the same number, so that the server refuses them before reading them whole. 64 KiB holds
# the longest chat message (4,000 characters) even with every character JSON-escaped.
WS_MESSAGE_RATE = env.float("WS_MESSAGE_RATE", default=5.0)
WS_MESSAGE_BURST = env.int("WS_MESSAGE_BURST", default=20)
WS_MAX_CONNECTIONS_PER_USER = env.int("WS_MAX_CONNECTIONS_PER_USER", default=20)
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=65536)

# Chat presence and history (README: "Presence and history"). Presence: who is in each room; an
# entry not renewed for CHAT_PRESENCE_TTL seconds (its process died) is gone within 4/3 of that.
# History: each room keeps its last CHAT_HISTORY_SIZE messages, none older than CHAT_HISTORY_TTL
# seconds, for sockets that reconnect. Either can be turned off.
CHAT_PRESENCE = env.bool("CHAT_PRESENCE", default=True)
CHAT_PRESENCE_TTL = env.float("CHAT_PRESENCE_TTL", default=20.0)
CHAT_HISTORY = env.bool("CHAT_HISTORY", default=True)
CHAT_HISTORY_SIZE = env.int("CHAT_HISTORY_SIZE", default=100)
CHAT_HISTORY_TTL = env.int("CHAT_HISTORY_TTL", default=600)
{%- if cookiecutter.auth_mode == "ticket" %}

# WebSocket tickets: how many seconds one lives unredeemed, and how often a user may ask for one
# (DRF's rate format: "60/min", "5/s", "1000/hour", "10000/day").
WS_TICKET_TTL = env.int("WS_TICKET_TTL", default=30)
WS_TICKET_THROTTLE_RATE = env.str("WS_TICKET_THROTTLE_RATE", default="60/min")
{%- endif %}

# Logging. Servers log query strings, where WebSocket credentials travel, so every handler here
# redacts credentials (realtime/log_redaction.py). uvicorn logs the handshake line on
# `uvicorn.error` and HTTP requests on `uvicorn.access`; naming its loggers here removes the
# handlers uvicorn installed, so they are declared again as in uvicorn's LOGGING_CONFIG, with the
# filter. Their levels stay uvicorn's (--log-level). runserver (daphne) logs on
# `django.channels.server`.
#
# What anyone can trigger must not fill the logs (realtime/log_limits.py): Django's security
# events (a foreign Host header, an oversized body) are written as one line without their
# traceback, and warnings and errors are limited per logger and level to LOG_REPEATS_PER_SECOND.
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO").upper()
LOG_REPEATS_PER_SECOND = env.int("DJANGO_LOG_REPEATS_PER_SECOND", default=10)
REDACTING_STREAM = {"class": "logging.StreamHandler", "filters": ["redact_credentials"]}
# Handlers of event logs; access logs (one line per request by design) are not limited.
LIMITED_STREAM = {
    "class": "logging.StreamHandler",
    "filters": ["one_line_security_events", "repeat_limit", "redact_credentials"],
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_credentials": {"()": "realtime.log_redaction.RedactCredentialsFilter"},
        "quiet_health_checks": {"()": "realtime.health.QuietHealthChecks"},
        "count_over_capacity_drops": {"()": "realtime.layers.CountOverCapacityDrops"},
        "quiet_receiver_outages": {"()": "realtime.layers.QuietReceiverOutages"},
        "one_line_security_events": {"()": "realtime.log_limits.OneLineSecurityEvents"},
        "repeat_limit": {
            "()": "realtime.log_limits.RepeatLimit",
            "per_second": LOG_REPEATS_PER_SECOND,
        },
    },
    "formatters": {
        "console": {"format": "{levelname} {name}: {message}", "style": "{"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
        "uvicorn.default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "uvicorn.access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "console": {**LIMITED_STREAM, "formatter": "console"},
        "django.server": {**REDACTING_STREAM, "formatter": "django.server"},
        "uvicorn.default": {
            **LIMITED_STREAM,
            "formatter": "uvicorn.default",
            "stream": "ext://sys.stderr",
        },
        "uvicorn.access": {
            **REDACTING_STREAM,
            "filters": ["quiet_health_checks", "redact_credentials"],
            "formatter": "uvicorn.access",
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Named so that Django's default handlers (unfiltered) are dropped; it logs through root.
        "django": {"level": LOG_LEVEL},
        # runserver's request lines: Django's own (WSGI, --noasgi) and daphne's.
        "django.server": {"handlers": ["django.server"], "level": LOG_LEVEL, "propagate": False},
        "django.channels.server": {
            "handlers": ["django.server"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
        "uvicorn": {"handlers": ["uvicorn.default"], "propagate": False},
        "uvicorn.error": {},  # named, so it keeps uvicorn's level; propagates to "uvicorn"
        "uvicorn.access": {"handlers": ["uvicorn.access"], "propagate": False},
        "uvicorn.asgi": {},  # --log-level trace logs every ASGI scope here, query string included
        # The core layer reports dropped messages at INFO: counted and warned about instead
        # (realtime.layers.dropped_messages), whatever DJANGO_LOG_LEVEL is.
        "channels_redis.core": {"level": "INFO", "filters": ["count_over_capacity_drops"]},
        "channels_redis.pubsub": {"filters": ["quiet_receiver_outages"]},
    },
}
