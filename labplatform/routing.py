"""Websocket routes."""

from django.urls import path

from labplatform.labsessions.consumers import SessionStatusConsumer
from labplatform.terminal.consumers import TerminalConsumer
from labplatform.terminal.watch import TerminalWatchConsumer
from labplatform.workshops.consumers import WorkshopMatrixConsumer

websocket_urlpatterns = [
    path("ws/sessions/<str:session_id>/terminal/", TerminalConsumer.as_asgi()),
    path("ws/sessions/<str:session_id>/status/", SessionStatusConsumer.as_asgi()),
    path("ws/sessions/<str:session_id>/watch/", TerminalWatchConsumer.as_asgi()),
    path("ws/workshops/<slug:slug>/matrix/", WorkshopMatrixConsumer.as_asgi()),
]
