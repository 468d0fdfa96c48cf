"""ASGI entry point served by ``manage.py runreplica``: the IC HTTP interface (``/api/``)
by `icframework.replica.ApiApplication` without Django's request stack, other HTTP
through Django, WebSockets through Channels (canister events, see docs/events.md), all
behind `icframework.replica.RequestLimits` (body sizes, back-pressure)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from icframework.channels.routing import websocket_urlpatterns  # noqa: E402
from icframework.replica import ApiApplication, RequestLimits  # noqa: E402
from icframework.security_headers import API_HEADERS  # noqa: E402

api_headers = [(name.lower().encode(), value.encode()) for name, value in API_HEADERS.items()]

application = RequestLimits(ApiApplication(ProtocolTypeRouter({
    "http": django_application,
    "websocket": URLRouter(websocket_urlpatterns),
}), extra_headers=api_headers))
