"""Django app registration of the professional network (page at ``/social/``, templates, static)."""

from django.apps import AppConfig


class SocialConfig(AppConfig):
    name = "apps.social"
    label = "social"
    verbose_name = "Social"
