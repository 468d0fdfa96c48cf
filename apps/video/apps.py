"""Django app registration of the short-video app (page at ``/video/``, templates, static)."""

from django.apps import AppConfig


class VideoConfig(AppConfig):
    name = "apps.video"
    label = "video"
    verbose_name = "Video"
