"""Django app registration of the marketplace reference app (its page at ``/market/``)."""

from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "apps.marketplace"
    label = "marketplace"
    verbose_name = "Marketplace"
