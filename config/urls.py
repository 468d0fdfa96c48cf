"""URL routes: the apps' pages, static files, then the dashboard; and the plain error pages.

The replica's IC HTTP interface under ``/api/`` is not here: `config.asgi` serves it
with `icframework.replica.ApiApplication` before a request reaches Django.

Every installed app under ``apps/`` with a ``urls.py`` (``config.settings`` discovers them)
is served at ``/<name>/``, or at the prefix `APP_PREFIXES` gives it; so an app made with
``manage.py startdapp hello`` is at ``/hello/`` once ``runreplica`` restarts.

Static files are served by Django itself (the app directories' ``static/``, found by
the staticfiles finders, no ``collectstatic``): ``manage.py runreplica`` is a single
process with no web server in front, and the pages it serves need their scripts
whether or not ``DEBUG`` is on.

The error handlers say what went wrong and nothing about the server (no paths, source
or settings, whatever ``DEBUG`` is): plain text under ``/api/``, where clients are
programs, and a small page elsewhere.
"""

from importlib.util import find_spec

from django.apps import apps
from django.contrib.staticfiles.views import serve
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import URLResolver, include, path, re_path

API_PREFIX = "/api/"
APP_PREFIXES = {"marketplace": "market/"}
"""Apps served somewhere else than ``/<name>/``."""


def _error(request: HttpRequest, status: int, text: str, template: str) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    return HttpResponse(loader.get_template(template).render(), status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400: a request Django itself refused (a malformed host, an oversized form)."""
    return _error(request, 400, "Bad request: the server could not read this request.",
                  "400.html")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 without the debug page's list of routes."""
    return _error(request, 404, "Not found: no endpoint of the IC HTTP interface has this "
                  "path; see /api/v2/status.", "404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    """500 without a traceback; the details go to the server's log only."""
    return _error(request, 500, "Internal error of the replica; the server log has the "
                  "details.", "500.html")


handler400 = bad_request
handler404 = page_not_found
handler500 = server_error


def app_routes() -> list[URLResolver]:
    """``/<name>/`` → ``apps.<name>.urls`` for every installed app under ``apps/`` that has one."""
    routes = []
    for config in apps.get_app_configs():
        package, _, name = config.name.partition(".")
        if package == "apps" and find_spec(f"{config.name}.urls") is not None:
            routes.append(path(APP_PREFIXES.get(name, f"{name}/"), include(f"{config.name}.urls")))
    return routes


urlpatterns = [
    *app_routes(),
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
    path("", include("icframework.dashboard.urls")),
]
