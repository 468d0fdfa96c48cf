"""URL routes: the dashboard (the replica's HTTP interface joins it in the replica issue)."""

from django.urls import include, path

urlpatterns = [
    path("", include("icframework.dashboard.urls")),
]
