"""ASGI entry point served by uvicorn (``manage.py runreplica``): HTTP through Django,
WebSockets through Channels (canister events, see docs/events.md), both behind
`icframework.replica.asgi_limits.RequestLimits` (body sizes, back-pressure)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from icframework.channels.routing import websocket_urlpatterns  # noqa: E402
from icframework.replica import RequestLimits  # noqa: E402

application = RequestLimits(ProtocolTypeRouter({
    "http": django_application,
    "websocket": URLRouter(websocket_urlpatterns),
}))
