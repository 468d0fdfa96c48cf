"""Routes of the video page: the page and the canister interface it builds its actor from."""

from django.urls import path

from apps.video import views

app_name = "video"

urlpatterns = [
    path("", views.index, name="index"),
    path("video.did", views.interface, name="interface"),
]
