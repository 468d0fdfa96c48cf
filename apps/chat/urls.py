"""Routes of the chat page: the page itself and the canister interface it builds its actor from."""

from django.urls import path

from apps.chat import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("chat.did", views.interface, name="interface"),
]
