"""WebSocket URL patterns of the framework (mounted by ``config.asgi``)."""

from __future__ import annotations

from django.urls import path

from icframework.channels.consumers import CanisterEventsConsumer

websocket_urlpatterns = [
    path("ws/canisters/<str:canister_id>/events", CanisterEventsConsumer.as_asgi()),
]
