"""Django app registration of the chat reference app (its page at ``/chat/``, templates, static)."""

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "apps.chat"
    label = "chat"
    verbose_name = "Chat"
