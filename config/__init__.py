"""Django project wiring for icframework (settings, URLs, ASGI, Celery); no logic here.

The Celery app is imported with the project, the standard Django layout, so that
``@shared_task`` functions bind to it wherever Django is set up (``celery_app``).
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
