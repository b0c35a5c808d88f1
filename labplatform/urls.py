"""URL routes."""

from django.contrib import admin
from django.urls import include, path

from labplatform.accounts.views import LoginView, LogoutView, signup
from labplatform.content import views as content
from labplatform.labsessions import views as sessions
from labplatform.ops import views as ops

urlpatterns = [
    path("", content.course_index, name="course-index"),
    path("modules/<slug:slug>/", content.module_detail, name="module-detail"),
    path("labs/<slug:slug>/", content.lab_detail, name="lab-detail"),
    path("labs/<slug:slug>/start/", sessions.start_lab, name="lab-start"),
    path(
        "labs/<slug:slug>/steps/<int:step_number>/solution/",
        sessions.reveal_solution,
        name="step-solution",
    ),
    path("progress/", content.progress, name="progress"),
    path(
        "sessions/<uuid:session_id>/status/",
        sessions.session_status,
        name="session-status",
    ),
    path("sessions/<uuid:session_id>/end/", sessions.end_lab, name="session-end"),
    path("sessions/<uuid:session_id>/reset/", sessions.reset_lab, name="session-reset"),
    path(
        "sessions/<uuid:session_id>/check/", sessions.check_work, name="session-check"
    ),
    path(
        "sessions/<uuid:session_id>/audit/", sessions.audit_events, name="session-audit"
    ),
    path(
        "sessions/<uuid:session_id>/attack-surface/",
        sessions.attack_surface,
        name="session-attack-surface",
    ),
    path(
        "sessions/<uuid:session_id>/files/<str:file_name>/",
        sessions.editor_file,
        name="session-file",
    ),
    path(
        "sessions/<uuid:session_id>/answers/<slug:question_id>/",
        sessions.answer_question,
        name="session-answer",
    ),
    path("grading/<uuid:run_id>/", sessions.grading_run, name="grading-run"),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("labplatform.workshops.urls")),
    # django-allauth, for OpenID Connect sign-in only; the platform's own
    # sign-up and login pages stay the ones above.
    path("sso/", include("labplatform.accounts.sso_urls")),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
]
