"""Django project wiring for icframework (settings, URLs, ASGI, Celery); no logic here."""
