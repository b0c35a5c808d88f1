from django.apps import AppConfig


class LabSessionsConfig(AppConfig):
    name = "labplatform.labsessions"
    label = "labsessions"
    verbose_name = "Lab sessions"
