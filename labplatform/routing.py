"""Websocket routes."""

from django.urls import path

from labplatform.labsessions.consumers import SessionStatusConsumer
from labplatform.terminal.consumers import TerminalConsumer

websocket_urlpatterns = [
    path("ws/sessions/<str:session_id>/terminal/", TerminalConsumer.as_asgi()),
    path("ws/sessions/<str:session_id>/status/", SessionStatusConsumer.as_asgi()),
]
