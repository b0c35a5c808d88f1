from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "labplatform.content"
    label = "content"
