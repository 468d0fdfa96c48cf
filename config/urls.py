"""URL routes: the replica's IC HTTP interface under ``/api/``, the reference apps' pages,
static files, then the dashboard.

Static files are served by Django itself (the app directories' ``static/``, found by
the staticfiles finders, no ``collectstatic``): ``manage.py runreplica`` is a single
process with no web server in front, and the pages it serves need their scripts
whether or not ``DEBUG`` is on.
"""

from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

urlpatterns = [
    path("api/", include("icframework.replica.http.urls")),
    path("chat/", include("apps.chat.urls")),
    path("market/", include("apps.marketplace.urls")),
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
    path("", include("icframework.dashboard.urls")),
]
