"""Dashboard routes."""

from django.urls import path

from icframework.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("canisters/<str:canister_id>/", views.canister, name="canister"),
    path("canisters/<str:canister_id>/candid.did", views.candid, name="candid"),
]
