"""Dashboard routes."""

from django.urls import path

from icframework.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
]
