"""URL routes: the replica's IC HTTP interface under ``/api/``, then the dashboard."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("icframework.replica.http.urls")),
    path("", include("icframework.dashboard.urls")),
]
