from django.apps import AppConfig


class GradingConfig(AppConfig):
    name = "labplatform.grading"
    label = "grading"
