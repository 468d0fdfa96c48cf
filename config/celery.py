"""The Celery app, configured from Django settings (``CELERY_`` prefix); autodiscovers tasks.

Without ``CELERY_BROKER_URL`` (``ICFRAMEWORK_BROKER_URL`` unset) it queues on the
embedded SQLite broker under the state directory (`icframework.workers`), which the
worker ``manage.py runreplica`` starts in-process consumes.
"""

import os

from celery import Celery

from icframework.workers import use_state_dir_broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("icframework")
app.config_from_object("django.conf:settings", namespace="CELERY")
use_state_dir_broker(app)
app.autodiscover_tasks()
