"""Routes of the workshop pages, included under / by labplatform.urls."""

from django.urls import path

from . import views

urlpatterns = [
    path("join/", views.join, name="workshop-join"),
    path("join/<str:code>/", views.join, name="workshop-join-code"),
    path("broadcast/", views.broadcast_banner, name="broadcast-banner"),
    path("instruct/", views.instructor_home, name="instructor-home"),
    path("instruct/new/", views.workshop_create, name="workshop-create"),
    path("instruct/<slug:slug>/", views.workshop_matrix, name="workshop-matrix"),
    path("instruct/<slug:slug>/edit/", views.workshop_edit, name="workshop-edit"),
    path(
        "instruct/<slug:slug>/learners/<int:learner_id>/",
        views.learner_detail,
        name="workshop-learner",
    ),
    path(
        "instruct/<slug:slug>/sessions/<uuid:session_id>/<slug:action>/",
        views.session_action,
        name="workshop-session-action",
    ),
    path("instruct/<slug:slug>/end-all/", views.end_all, name="workshop-end-all"),
    path("instruct/<slug:slug>/broadcast/", views.broadcast, name="workshop-broadcast"),
    path(
        "instruct/<slug:slug>/export.<str:fmt>",
        views.export,
        name="workshop-export",
    ),
    path(
        "instruct/<slug:slug>/import/",
        views.import_learners,
        name="workshop-import",
    ),
    path(
        "instruct/<slug:slug>/recordings/<uuid:recording_id>.cast",
        views.recording_file,
        name="workshop-recording",
    ),
]
