"""Django settings for labplatform, driven by LABPLATFORM_* variables.

See docs/configuration.md for every variable. Defaults suit one machine:
SQLite, Redis on localhost, the local control plane's kubeconfig, and
DEBUG off.
"""

from pathlib import Path

from . import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.get_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.get_bool("DEBUG", False)
SECRET_KEY = env.load_secret_key(VAR_DIR)
ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "labplatform.accounts",
    "labplatform.content",
    "labplatform.labsessions",
    "labplatform.grading",
    "labplatform.terminal",
    "labplatform.ops",
    "labplatform.workshops",
    # Single sign-on through OpenID Connect; off unless LABPLATFORM_OIDC_*
    # is set (see SOCIALACCOUNT_PROVIDERS below).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "labplatform.urls"
ASGI_APPLICATION = "labplatform.asgi.application"

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
                "labplatform.workshops.context.workshop_context",
            ],
        },
    },
]

DATABASES = {
    "default": env.parse_database_url(
        env.get_str("DATABASE_URL", f"sqlite:////{VAR_DIR / 'db.sqlite3'}"),
        base_dir=BASE_DIR,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "course-index"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# OpenID Connect single sign-on (django-allauth). Set the issuer URL,
# client id and secret to show "Sign in with <name>" on the login page.
# Accounts are created on first sign-in from the provider's claims.
OIDC_SERVER_URL = env.get_str("OIDC_SERVER_URL", "")
OIDC_PROVIDER_NAME = env.get_str("OIDC_PROVIDER_NAME", "single sign-on")
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": "sso",
                "name": OIDC_PROVIDER_NAME,
                "client_id": env.get_str("OIDC_CLIENT_ID", ""),
                "secret": env.get_str("OIDC_CLIENT_SECRET", ""),
                "settings": {
                    "server_url": OIDC_SERVER_URL,
                    "scope": ["openid", "profile", "email"],
                },
            }
        ]
        if OIDC_SERVER_URL
        else [],
    }
}
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
# The provider vouches for the address; the platform sends no email.
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
LOGOUT_REDIRECT_URL = "course-index"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve files straight from the static folders when no collectstatic ran,
# which keeps the one-command start free of a build step.
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.get_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS settings for a site behind a TLS proxy. They stay off by default
# because a workshop on one machine often serves plain HTTP on localhost;
# `manage.py check --deploy` lists what is still off.
SECURE_HSTS_SECONDS = env.get_int("HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.get_bool("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.get_bool("HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env.get_bool("SSL_REDIRECT", False)
# Probes and health checks call these over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.get_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Redis carries Celery's queue and the Channels layer.
REDIS_URL = env.get_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = env.make_channel_layers(REDIS_URL)

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
# A task whose worker died without acknowledging it goes back to the queue
# after this many seconds (Redis's default is an hour). It must stay longer
# than the longest retry countdown (30 s).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
# When Redis goes away, running tasks are cancelled and redelivered; every
# task here is safe to run twice. This is Celery 6's default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.get_bool("CELERY_EAGER", False)
CELERY_BEAT_SCHEDULE = {
    "reap-expired-lab-sessions": {
        "task": "labplatform.labsessions.tasks.reap_expired_sessions",
        "schedule": 60.0,
    },
    "maintain-warm-pools": {
        "task": "labplatform.workshops.tasks.maintain_warm_pools",
        "schedule": 30.0,
    },
}

# The cluster that contains learner namespaces. The default is the local
# control plane's admin kubeconfig, written by `manage.py controlplane`.
KUBECONFIG = env.get_str(
    "KUBECONFIG", str(VAR_DIR / "controlplane" / "admin.kubeconfig")
)
# The kube-apiserver audit log file, read by the audit events panel.
# Empty means the cluster's audit events are not readable by the platform.
AUDIT_LOG_PATH = env.get_str(
    "AUDIT_LOG_PATH", str(VAR_DIR / "controlplane" / "audit.log")
)

LAB_SESSION_MINUTES = env.get_int("LAB_SESSION_MINUTES", 120)
# Labs with placement "dedicated" run privileged pods. On a cluster whose
# nodes are shared by learners they start only when this is true.
ALLOW_SHARED_PRIVILEGED_LABS = env.get_bool("ALLOW_SHARED_PRIVILEGED_LABS", False)
LAB_PROVISION_DEADLINE_SECONDS = env.get_int("LAB_PROVISION_DEADLINE_SECONDS", 60)
# "local": a bubblewrap sandbox on this machine; "exec": a shell in the
# learner's workbench pod, through the API server's exec websocket.
TERMINAL_BACKEND = env.get_str("TERMINAL_BACKEND", "local")
# The learner's shell image for the exec backend (deploy/workbench/).
WORKBENCH_IMAGE = env.get_str("WORKBENCH_IMAGE", "labplatform/workbench:0.1.0")
# Seconds a terminal waits for the workbench pod to be Running.
WORKBENCH_START_SECONDS = env.get_int("WORKBENCH_START_SECONDS", 60)
# A terminal with no input for this long is closed and its shell ended.
TERMINAL_IDLE_SECONDS = env.get_int("TERMINAL_IDLE_SECONDS", 1800)
# Parent folder of each session's home folder in the local terminal backend.
TERMINAL_WORKSPACE_DIR = Path(
    env.get_str("TERMINAL_WORKSPACE_DIR", str(VAR_DIR / "workspaces"))
)
# The kubectl the learner's shell runs; by default the control plane's.
KUBECTL_PATH = env.get_str("KUBECTL", "")
# Terminal recordings (asciicast v2) for instructors' replay and live view.
# A multi-host deployment must put this folder on storage every web
# process shares, since the live view reads the file being written.
RECORDINGS_DIR = Path(env.get_str("RECORDINGS_DIR", str(VAR_DIR / "recordings")))
RECORDING_MAX_BYTES = env.get_int("RECORDING_MAX_BYTES", 5 * 1024 * 1024)
RECORDING_MAX_BYTES_PER_SESSION = env.get_int(
    "RECORDING_MAX_BYTES_PER_SESSION", 20 * 1024 * 1024
)
RECORDING_MAX_BYTES_PER_LEARNER = env.get_int(
    "RECORDING_MAX_BYTES_PER_LEARNER", 100 * 1024 * 1024
)
# Minutes an instructor's "extend" adds to a learner's session.
SESSION_EXTEND_MINUTES = env.get_int("SESSION_EXTEND_MINUTES", 30)
# Celery worker processes that runplatform starts. Provisioning and
# grading mostly wait on the API server, so more processes than cores help
# when a room starts labs together.
WORKER_CONCURRENCY = env.get_int("WORKER_CONCURRENCY", 4)
# Seconds after which a dedicated cluster's recycle command is killed and
# the cluster marked broken.
CLUSTER_RECYCLE_TIMEOUT_SECONDS = env.get_int("CLUSTER_RECYCLE_TIMEOUT_SECONDS", 900)
# Minutes before a workshop's start at which its warm pool begins to fill.
WARM_POOL_LEAD_MINUTES = env.get_int("WARM_POOL_LEAD_MINUTES", 30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "labplatform": {"level": env.get_str("LOG_LEVEL", "INFO")},
        "django": {"level": "INFO"},
    },
}
