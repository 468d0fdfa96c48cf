"""Routes of the marketplace page: the page and the Candid interfaces it builds its actors from."""

from django.urls import path

from apps.marketplace import views

app_name = "marketplace"

urlpatterns = [
    path("", views.index, name="index"),
    path("marketplace.did", views.interface, name="interface"),
    path("icrc.did", views.token_interface, name="token_interface"),
    path("faucet", views.faucet, name="faucet"),
]
