"""Django app registration for icframework (management commands, dashboard templates)."""

from django.apps import AppConfig


class IcFrameworkConfig(AppConfig):
    name = "icframework"
    verbose_name = "icframework"
