"""Routes of the social page: the page and the canister interface it builds its actor from."""

from django.urls import path

from apps.social import views

app_name = "social"

urlpatterns = [
    path("", views.index, name="index"),
    path("social.did", views.interface, name="interface"),
]
