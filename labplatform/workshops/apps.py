from django.apps import AppConfig


class WorkshopsConfig(AppConfig):
    name = "labplatform.workshops"
    label = "workshops"
    verbose_name = "Workshops"
