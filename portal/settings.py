"""Tagsight settings: one module, every value from the environment with a dev-safe default (no I/O here)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from portal.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# All embedded-profile state (SQLite, media, broker folders, caches) lives under one folder.
DATA_DIR = Path(env_str("TAGSIGHT_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_secret("SECRET_KEY", default="dev-insecure-change-me-tagsight-embedded-profile-key-0123456789")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "workspaces",
    "projects",
    "labeling",
    "training",
    "predictions",
    "health",
    "notifications",
    "datasets",
]

MIDDLEWARE = [
    "portal.logs.RequestIdMiddleware",  # first: every later log line of the request carries its id
    "portal.metrics.MetricsMiddleware",  # times the whole request, by route name and status
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.azure.middleware.CollapseSlashesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.limits",
                "workspaces.context_processors.workspaces",
                "workspaces.context_processors.single_sign_on",
            ],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# Database: SQLite under DATA_DIR by default; DATABASE_URL (e.g. postgres://...) for production.
# Persistent connections (DB_CONN_MAX_AGE seconds, 0: one per request): opening one per request cost a stored
# prediction 3-6 ms of its ~14 (SQLite's connect + PRAGMAs, PostgreSQL's handshake); health-checked on reuse.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'tagsight.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", default=60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server and the Celery worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not in-memory) test database, so tests can share it with a real Celery worker process;
    # one file per test run (pid) so that concurrent runs never clobber each other.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("TEST_DATABASE_NAME", default=str(DATA_DIR / f"test-{os.getpid()}.sqlite3"))
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Static files: collected into DATA_DIR and served by whitenoise (no CDN, machines are offline).
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))

# Media: local disk by default; STORAGE_BACKEND=s3 switches to django-storages (S3-compatible).
STORAGE_BACKEND = env_str("STORAGE_BACKEND", default="filesystem")
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
_STATIC_STORAGE = {
    "BACKEND": env_str(
        "STATICFILES_STORAGE_BACKEND", default="whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
}
if STORAGE_BACKEND == "s3":
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env_str("S3_BUCKET", default="tagsight"),
                "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
                "region_name": env_str("S3_REGION", default="us-east-1"),
                "access_key": env_secret("S3_ACCESS_KEY_ID"),
                "secret_key": env_secret("S3_SECRET_ACCESS_KEY"),
                "location": env_str("S3_PREFIX", default=""),
                "file_overwrite": False,
                "default_acl": None,
                "querystring_auth": True,
            },
        },
        "staticfiles": _STATIC_STORAGE,
    }
elif STORAGE_BACKEND == "filesystem":
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": _STATIC_STORAGE,
    }
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'filesystem' or 's3', got {STORAGE_BACKEND!r}")

# Uploads: Azure's limits. Images over this many bytes are rejected per file. Pages state these limits from here
# (portal.context_processors.limits); Pillow's decompression-bomb guard is raised to MAX_IMAGE_SIDE squared.
TAGSIGHT_MAX_IMAGE_BYTES = env_int("TAGSIGHT_MAX_IMAGE_BYTES", default=6 * 1024 * 1024)
TAGSIGHT_MAX_IMAGE_SIDE = env_int("TAGSIGHT_MAX_IMAGE_SIDE", default=10240)
TAGSIGHT_THUMBNAIL_SIZE = env_int("TAGSIGHT_THUMBNAIL_SIZE", default=256)
TAGSIGHT_DISPLAY_SIZE = env_int("TAGSIGHT_DISPLAY_SIZE", default=1600)
TAGSIGHT_PAGE_SIZE = env_int("TAGSIGHT_PAGE_SIZE", default=60)
# Server-side URL fetches (create_images_from_urls, Quick Test by URL) refuse private/loopback/metadata hosts
# unless set.
TAGSIGHT_ALLOW_PRIVATE_URLS = env_bool("TAGSIGHT_ALLOW_PRIVATE_URLS", default=False)
# Prediction (Quick Test, prediction endpoint): Azure's 4 MB image limit; stored predictions kept this many days;
# loaded models kept per process (LRU).
TAGSIGHT_MAX_PREDICTION_BYTES = env_int("TAGSIGHT_MAX_PREDICTION_BYTES", default=4 * 1024 * 1024)
TAGSIGHT_PREDICTION_RETENTION_DAYS = env_int("TAGSIGHT_PREDICTION_RETENTION_DAYS", default=30)
TAGSIGHT_PREDICTOR_CACHE_SIZE = env_int("TAGSIGHT_PREDICTOR_CACHE_SIZE", default=4)
# onnxruntime intra-op threads of one prediction in the web tier; 0 = one per core for a prediction that runs alone in
# its process, one for each of predictions that overlap (training.ml.runtime.LoadAwareSession; README "Every core for
# a lone request, one thread each under load").
TAGSIGHT_PREDICTION_THREADS = env_int("TAGSIGHT_PREDICTION_THREADS", default=0)
# Detection trainings keep augmented views for the next training in DATA_DIR/cache/embeddings (MiB, LRU).
TAGSIGHT_DETECTION_VIEW_CACHE_MB = env_int("TAGSIGHT_DETECTION_VIEW_CACHE_MB", default=4096)
# Training minimums (Azure's defaults), adjustable.
TAGSIGHT_MIN_IMAGES_PER_TAG = env_int("TAGSIGHT_MIN_IMAGES_PER_TAG", default=5)
TAGSIGHT_MIN_BOXES_PER_TAG = env_int("TAGSIGHT_MIN_BOXES_PER_TAG", default=15)
# Quotas: Azure's S0 limits by default (the "Limits and quotas" page of Custom Vision, summarised in the API notes'
# section 5): 100,000 training images and 500 tags per project, 20 iterations kept per project, 100 projects per
# resource (a workspace here). 0 turns a quota off. Refusals carry Azure's codes (BadRequestExceed*Limit, and the
# per-image status ErrorLimitExceed).
TAGSIGHT_MAX_IMAGES_PER_PROJECT = env_int("TAGSIGHT_MAX_IMAGES_PER_PROJECT", default=100_000)
TAGSIGHT_MAX_TAGS_PER_PROJECT = env_int("TAGSIGHT_MAX_TAGS_PER_PROJECT", default=500)
TAGSIGHT_MAX_ITERATIONS_PER_PROJECT = env_int("TAGSIGHT_MAX_ITERATIONS_PER_PROJECT", default=20)
TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE = env_int("TAGSIGHT_MAX_PROJECTS_PER_WORKSPACE", default=100)
# A project archive with more images than this is imported by a worker (the portal shows its progress).
TAGSIGHT_ARCHIVE_INLINE_IMAGES = env_int("TAGSIGHT_ARCHIVE_INLINE_IMAGES", default=300)
# Upload batches (API: 64 images x 6 MB as base64 JSON) need far more than Django's 2.5 MB default.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=600 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", default=1000)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=8 * 1024 * 1024)

# Teams: invitation links expire after this many days; open sign-up (anyone may create an account) is off
# unless set. E-mail (invitations, password reset): the console unless EMAIL_HOST is set (see .env.example).
TAGSIGHT_INVITATION_DAYS = env_int("TAGSIGHT_INVITATION_DAYS", default=7)
TAGSIGHT_SELF_REGISTRATION = env_bool("TAGSIGHT_SELF_REGISTRATION", default=False)
EMAIL_HOST = env_str("EMAIL_HOST", default="")
_MAIL = "smtp" if EMAIL_HOST else "console"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default=f"django.core.mail.backends.{_MAIL}.EmailBackend")
EMAIL_PORT = env_int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="Tagsight <tagsight@localhost>")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", default=str(DATA_DIR / "mail"))  # the filebased backend's folder
# Notifications: links in e-mails and webhook payloads start with TAGSIGHT_PUBLIC_URL (how people reach the
# portal). Webhooks: attempts per delivery, the first retry's delay (each next one x3), seconds per attempt.
TAGSIGHT_PUBLIC_URL = env_str("TAGSIGHT_PUBLIC_URL", default="http://localhost:8000").rstrip("/")
TAGSIGHT_WEBHOOK_ATTEMPTS = env_int("TAGSIGHT_WEBHOOK_ATTEMPTS", default=5)
TAGSIGHT_WEBHOOK_RETRY_SECONDS = env_float("TAGSIGHT_WEBHOOK_RETRY_SECONDS", default=10.0)
TAGSIGHT_WEBHOOK_TIMEOUT_SECONDS = env_float("TAGSIGHT_WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# Single sign-on with OpenID Connect (mozilla-django-oidc): off unless TAGSIGHT_OIDC_CLIENT_ID is set, then the
# login page offers "Sign in with <provider>" and /oidc/ handles the code flow (see README, .env.example).
TAGSIGHT_OIDC = bool(env_str("TAGSIGHT_OIDC_CLIENT_ID"))
TAGSIGHT_OIDC_PROVIDER_NAME = env_str("TAGSIGHT_OIDC_PROVIDER_NAME", default="single sign-on")
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if TAGSIGHT_OIDC:
    OIDC_RP_CLIENT_ID = env_str("TAGSIGHT_OIDC_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env_secret("TAGSIGHT_OIDC_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("TAGSIGHT_OIDC_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_str("TAGSIGHT_OIDC_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_str("TAGSIGHT_OIDC_USERINFO_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("TAGSIGHT_OIDC_JWKS_ENDPOINT") or None
    OIDC_RP_SIGN_ALGO = env_str("TAGSIGHT_OIDC_SIGN_ALGO", default="RS256")
    OIDC_RP_SCOPES = env_str("TAGSIGHT_OIDC_SCOPES", default="openid email profile")
    OIDC_CREATE_USER = env_bool("TAGSIGHT_OIDC_CREATE_USERS", default=True)
    _OIDC_MISSING = [
        name
        for name, value in [
            ("TAGSIGHT_OIDC_CLIENT_SECRET", OIDC_RP_CLIENT_SECRET),
            ("TAGSIGHT_OIDC_AUTHORIZATION_ENDPOINT", OIDC_OP_AUTHORIZATION_ENDPOINT),
            ("TAGSIGHT_OIDC_TOKEN_ENDPOINT", OIDC_OP_TOKEN_ENDPOINT),
            ("TAGSIGHT_OIDC_USERINFO_ENDPOINT", OIDC_OP_USER_ENDPOINT),
            # RS*/ES* ID tokens are checked against the provider's public keys; HS* with the client secret.
            ("TAGSIGHT_OIDC_JWKS_ENDPOINT", OIDC_OP_JWKS_ENDPOINT or OIDC_RP_SIGN_ALGO.startswith("HS")),
        ]
        if not value
    ]
    if _OIDC_MISSING:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"TAGSIGHT_OIDC_CLIENT_ID is set, so single sign-on also needs {', '.join(_OIDC_MISSING)}"
        )
    # PKCE on every sign-in (a provider that does not know it ignores the parameters); never wait on a provider
    # for longer than a request may take.
    OIDC_USE_PKCE = True
    OIDC_TIMEOUT = 15
    OIDC_CALLBACK_CLASS = "workspaces.oidc.CallbackView"
    LOGIN_REDIRECT_URL_FAILURE = "login"
    AUTHENTICATION_BACKENDS += ["workspaces.oidc.Backend"]

# Celery: kombu's filesystem transport under DATA_DIR by default (no broker server); redis:// in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(DATA_DIR / "broker" / "queue"),
        "data_folder_out": str(DATA_DIR / "broker" / "queue"),
        "control_folder": str(DATA_DIR / "broker" / "control"),
        "store_processed": False,
        # kombu polls the folder (default every 1 s); 0.1 s takes ~0.5 s off every click-to-train.
        "polling_interval": 0.1,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False  # a killed training is marked Failed, never rerun
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {"training.tasks.*": {"queue": "training"}}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", default=4 * 3600)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None

LOG_LEVEL = env_str("LOG_LEVEL", default="INFO")
# "plain" (human-readable) or "json": one JSON object per line (timestamp, level, logger, message, request_id,
# exception); the Celery worker follows the same setting (portal.celery).
LOG_FORMAT = env_str("LOG_FORMAT", default="plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s%(request_suffix)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Metrics: /metrics (Prometheus text format) answers only with "Authorization: Bearer <TAGSIGHT_METRICS_TOKEN>";
# without a token it is 404. Processes write their counters under TAGSIGHT_METRICS_DIR (prometheus-client's
# multiprocess mode): web/ for gunicorn's workers (gunicorn.conf.py), worker/ for a Celery worker on this machine.
TAGSIGHT_METRICS_TOKEN = env_secret("TAGSIGHT_METRICS_TOKEN")
TAGSIGHT_METRICS_DIR = Path(env_str("TAGSIGHT_METRICS_DIR") or str(DATA_DIR / "metrics"))

# Prediction API rate limit per prediction key, in transactions per second (0 = no limit; Azure's S0 is 10/s).
# Counted in the "shared" cache: the database on the embedded profile, Redis when the broker is Redis (or
# TAGSIGHT_CACHE_URL), so every gunicorn worker and every machine counts together.
TAGSIGHT_PREDICTION_RATE_LIMIT = env_int("TAGSIGHT_PREDICTION_RATE_LIMIT", default=0)
# A call over the limit is held for a place in one of the next N one-second windows before it is refused with 429
# (portal/ratelimit.py): a client a little over the limit is slowed down, not failed. 0 refuses at once, as Azure.
TAGSIGHT_PREDICTION_RATE_HOLD = env_int("TAGSIGHT_PREDICTION_RATE_HOLD", default=1)
_CACHE_URL = env_str("TAGSIGHT_CACHE_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis:", "rediss:")) else ""
)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},  # per process (Smart Labeler results)
    "shared": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL, "KEY_PREFIX": "tagsight"}
        if _CACHE_URL
        # Its table is made by `manage.py migrate` (predictions' post_migrate runs createcachetable).
        else {"BACKEND": "portal.cache.DatabaseCache", "LOCATION": "tagsight_cache", "OPTIONS": {"MAX_ENTRIES": 5000}}
    ),
}
