from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "labplatform.accounts"
    label = "accounts"
