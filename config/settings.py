"""Django settings: the embedded default (SQLite, in-memory channel layer, no services).

Scale-out deployments override these through environment variables (documented in
docs/configuration.md); framework options live in the single ``ICFRAMEWORK`` dict and
are read lazily through `icframework.conf`.

``DEBUG`` is off unless a developer sets ``ICFRAMEWORK_DEBUG=1``: Django's debug pages
show source, paths and local variables to whoever triggers an error, so they must never
face the network by default. With it off, errors get the plain pages of ``config.urls``
(text for ``/api/``) and static files are still served (``config.urls``).

Apps are discovered: every package ``apps/<name>/`` with an ``apps.py`` or a ``urls.py``
(the reference apps, and what ``manage.py startdapp`` creates) is installed, and
``config.urls`` serves the pages of those with a ``urls.py`` at ``/<name>/``; a new app
needs no edit here, only a restart of ``runreplica``.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("ICFRAMEWORK_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("ICFRAMEWORK_DEBUG", "0") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", ".localhost", "[::1]"]


def discover_apps(apps_dir: Path) -> list[str]:
    """``apps.<name>`` for each package under ``apps_dir`` with an ``apps.py`` or ``urls.py``."""
    if not apps_dir.is_dir():
        return []
    return [
        f"apps.{d.name}"
        for d in sorted(apps_dir.iterdir())
        if d.name.isidentifier() and (d / "__init__.py").is_file()
        and ((d / "apps.py").is_file() or (d / "urls.py").is_file())
    ]


INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "channels",
    "icframework",
    *discover_apps(BASE_DIR / "apps"),
]

MIDDLEWARE = [
    "icframework.replica.GatewayMiddleware",
    "icframework.security_headers.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / ".replica" / "django.sqlite3",
    }
}

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Off-chain workers (docs/workers.md): ICFRAMEWORK_BROKER_URL names a Redis or RabbitMQ
# broker; empty, tasks queue on SQLite under the state directory (icframework.workers).
CELERY_BROKER_URL = os.environ.get("ICFRAMEWORK_BROKER_URL", "")
# A task's message is acknowledged when it has run, so one a worker died running is
# delivered again; results are JSON, never pickles.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

ICFRAMEWORK: dict[str, object] = {
    "STATE_DIR": os.environ.get("ICFRAMEWORK_STATE_DIR", str(BASE_DIR / ".replica")),
    # what `manage.py runreplica --demo` (make demo) deploys and seeds, in order
    "DEMO_SEEDERS": ["apps.chat.seed.run_demo", "apps.marketplace.seed.run_demo",
                     "apps.social.seed.run_demo", "apps.video.seed.run_demo"],
    # called by `manage.py runreplica` once the replica and worker run (docs/workers.md)
    "REPLICA_HOOKS": ["apps.video.jobs.start"],
}
