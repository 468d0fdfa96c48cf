"""Dashboard views: thin adapters that render what the framework reports."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

import icframework
from icframework.conf import state_dir


def index(request: HttpRequest) -> HttpResponse:
    """The landing page: version, state directory and what is running."""
    context = {
        "version": icframework.__version__,
        "state_dir": state_dir(),
    }
    return render(request, "icframework/dashboard.html", context)
