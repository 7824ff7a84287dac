"""Thumbprint settings: everything comes from the environment (see README "Configuration").

Development (DEBUG=1, what `make run` uses): SQLite under $CLM_DATA_DIR, an embedded file-system broker, and
secrets generated into $CLM_DATA_DIR on first run. Production (DEBUG unset or 0): DJANGO_SECRET_KEY and
CLM_SECRET_KEYS are required; the system checks in clm/checks.py refuse to start without them.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from clm.env import env_bool, env_int, env_list, env_str, generated_secret

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CLM_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)

# The placeholder that a production start refuses (clm.E001); development generates a real key instead.
INSECURE_SECRET_KEY = "django-insecure-missing-secret-key"
_secret = env_str("DJANGO_SECRET_KEY")
if not _secret and DEBUG:
    _secret = generated_secret(DATA_DIR, "django_secret_key", "django")
SECRET_KEY = _secret or INSECURE_SECRET_KEY

# Encryption keys for secrets at rest, newest first (MultiFernet). See clm/crypto.py and rotate_secret_keys.
_keys = env_list("CLM_SECRET_KEYS", [])
if not _keys and DEBUG:
    _keys = [generated_secret(DATA_DIR, "secret_keys", "fernet")]
CLM_SECRET_KEYS: list[str] = _keys

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "clm",
    "devices",
    "vaults",
    "certificates",
    "discovery",
    "enrollment",
    "connectors",
    "workorders",
]

MIDDLEWARE = [
    "clm.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "clm.urls"
WSGI_APPLICATION = "clm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clm.context_processors.navigation",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'clm.sqlite3'}")
# Connections live up to DB_CONN_MAX_AGE seconds across requests and Celery tasks; one that the server dropped in
# between (a restart) is found by the health check before it is used again.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: WAL and a busy timeout keep them from tripping on each other.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even before collectstatic
MEDIA_ROOT = DATA_DIR / "media"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "thumbprint@localhost")

# --- Celery -----------------------------------------------------------------------------------------------------
# The default broker is kombu's file-system transport: it needs no server, and web, worker and beat -- separate
# processes -- share it through a directory (the in-memory transport cannot cross processes; the SQLAlchemy
# transport would add a dependency and fight SQLite for its write lock). Production sets redis://.
BROKER_DIR = Path(env_str("CLM_BROKER_DIR", str(DATA_DIR / "broker")))
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    (BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    # How long an unacknowledged task (its worker killed) waits before Redis hands it to another worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CLM_BROKER_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # results live in Job / run rows in the database
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = ("clm.celery.route_task",)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes the database connection around every task unless told to reuse it: a new PostgreSQL
# connection per task (fork, authentication, cold catalog caches) cost PostgreSQL more CPU than the work of a
# discovered host's task did. Connections are kept for this many tasks, and retired like Django's web connections
# (CONN_MAX_AGE, errors) by clm.celery._retire_db_connections.
CELERY_DB_REUSE_MAX = 10_000
# Device work: WinRM calls carry their own timeouts (CLM_WINRM_TIMEOUT); the task limits sit above them.
CLM_DEVICE_TASK_SOFT_TIME_LIMIT = env_int("CLM_DEVICE_TASK_SOFT_TIME_LIMIT", 600)
CLM_DEVICE_TASK_TIME_LIMIT = env_int("CLM_DEVICE_TASK_TIME_LIMIT", 660)
CLM_WINRM_TIMEOUT = env_int("CLM_WINRM_TIMEOUT", 60)

# --- REST API ---------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "clm.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clm.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Thumbprint API",
    "DESCRIPTION": "Certificate lifecycle management for Microsoft IIS. See API.md for the contract.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name across components get a stable, readable name.
    "ENUM_NAME_OVERRIDES": {
        "GatewayTypeEnum": "devices.choices.GatewayType",
        "GatewayModeEnum": "devices.choices.GatewayMode",
        "GatewayLocationEnum": "devices.choices.GatewayLocation",
        "JobStateEnum": "clm.choices.JobState",
        "WorkOrderStateEnum": "workorders.choices.WorkOrderState",
        "KeyTypeEnum": "certificates.choices.KeyType",
        "InventoryStatusEnum": [("managed", "Managed"), ("monitored", "Monitored")],
    },
}

# --- Logging ----------------------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "clm.logging.ContextFilter"},
        "mask_secrets": {"()": "clm.logging.SecretMaskingFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "mask_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        "spnego": {"level": "WARNING"},
        "pypsrp": {"level": "WARNING"},
    },
}
