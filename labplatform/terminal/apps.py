from django.apps import AppConfig


class TerminalConfig(AppConfig):
    name = "labplatform.terminal"
    label = "terminal"
