"""A project that routes only the chat page: what the shell shows for apps it lacks."""

from django.urls import include, path

urlpatterns = [path("chat/", include("apps.chat.urls"))]
