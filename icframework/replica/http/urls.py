"""Routes of the IC HTTP interface, mounted under ``/api/`` by ``config/urls.py``.

agent-js 3.x uses v2 status, v3 call (falling back to v2), v2 query and v2
read_state; newer agents use the v3 query and read_state routes, served identically.
"""

from django.urls import path

from icframework.replica.http import views

app_name = "ic_api"

urlpatterns = [
    path("v2/status", views.status, name="status"),
    path("v2/canister/<str:effective_canister_id>/call", views.call_v2, name="call-v2"),
    path("v3/canister/<str:effective_canister_id>/call", views.call_v3, name="call-v3"),
    path("v2/canister/<str:effective_canister_id>/query", views.query, name="query-v2"),
    path("v3/canister/<str:effective_canister_id>/query", views.query, name="query-v3"),
    path(
        "v2/canister/<str:effective_canister_id>/read_state",
        views.canister_read_state,
        name="read-state-v2",
    ),
    path(
        "v3/canister/<str:effective_canister_id>/read_state",
        views.canister_read_state,
        name="read-state-v3",
    ),
    path("v2/subnet/<str:subnet_id>/read_state", views.subnet_read_state, name="subnet-v2"),
    path("v3/subnet/<str:subnet_id>/read_state", views.subnet_read_state, name="subnet-v3"),
]
