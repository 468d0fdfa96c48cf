"""WebSocket URL patterns of the framework (mounted by ``config.asgi``)."""

from __future__ import annotations

from django.urls import path

from icframework.channels.consumers import CanisterSocketConsumer
from icframework.channels.dashboard import DashboardConsumer

websocket_urlpatterns = [
    path("ws/canisters/<str:canister_id>/events", CanisterSocketConsumer.as_asgi()),
    path("ws/dashboard", DashboardConsumer.as_asgi()),
]
