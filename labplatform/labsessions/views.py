"""Session actions: start, end, check my work, status and audit panels."""

import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labplatform.cluster.audit import read_namespace_events
from labplatform.cluster.kube import ClusterError
from labplatform.content.catalog import get_catalog
from labplatform.grading import services as grading
from labplatform.grading.comparison import dockerfile_comparison
from labplatform.grading.models import GradingRun
from labplatform.ratelimit import Limit

from . import editor, services
from .models import LabSession
from .selectors import summarize_audit_events

logger = logging.getLogger(__name__)

# Each start builds a namespace and each check reads the cluster, so a
# script pressing the buttons in a loop would load the API server for
# everyone. A learner working normally stays far below both.
LAB_START_LIMIT = Limit("lab-start", attempts=15, window_seconds=600)
CHECK_LIMIT = Limit("check", attempts=30, window_seconds=60)


def _owned_session(request, session_id: uuid.UUID) -> LabSession:
    # Another learner's session is "not found", never "forbidden", so ids
    # cannot be probed.
    return get_object_or_404(LabSession, pk=session_id, learner=request.user)


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


@login_required
@require_POST
def start_lab(request, slug):
    wait = LAB_START_LIMIT.retry_after(f"user-{request.user.pk}")
    if (
        wait
        and services.session_get_active(learner=request.user, lab_slug=slug) is None
    ):
        logger.warning(
            "Learner %s started labs too often; lab %s rejected for %d s",
            request.user.get_username(),
            slug,
            wait,
        )
        messages.error(
            request,
            f"You started {LAB_START_LIMIT.attempts} labs in the last "
            f"{LAB_START_LIMIT.window_seconds // 60} minutes. Try again in "
            f"{wait} s, or continue a lab that is running.",
        )
        return redirect("lab-detail", slug=slug)
    try:
        session, created = services.session_start(learner=request.user, lab_slug=slug)
    except services.LabNotFound:
        raise Http404(f"No lab {slug!r}") from None
    except (
        services.TooManySessions,
        services.PlacementRefused,
        services.NoClusterFree,
    ) as error:
        messages.error(request, str(error))
        return redirect("lab-detail", slug=slug)
    if created:
        LAB_START_LIMIT.record(f"user-{request.user.pk}")
    if _is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = request.build_absolute_uri(f"/labs/{slug}/")
        return response
    return redirect("lab-detail", slug=slug)


@login_required
@require_POST
def end_lab(request, session_id):
    session = _owned_session(request, session_id)
    if session.is_active:
        services.session_request_end(session=session)
        logger.info(
            "Learner %s asked to end session %s (lab %s)",
            request.user.get_username(),
            session.id,
            session.lab_slug,
        )
    return redirect("lab-detail", slug=session.lab_slug)


@login_required
@require_POST
def reset_lab(request, session_id):
    session = _owned_session(request, session_id)
    if session.status in LabSession.LIVE_STATUSES:
        try:
            services.session_reset(session=session)
        except (
            services.TooManySessions,
            services.PlacementRefused,
            services.NoClusterFree,
        ) as error:
            messages.error(request, str(error))
        else:
            # A reset builds a namespace like a start does.
            LAB_START_LIMIT.record(f"user-{request.user.pk}")
    return redirect("lab-detail", slug=session.lab_slug)


@login_required
@require_GET
def session_status(request, session_id):
    session = _owned_session(request, session_id)
    return render(request, "labs/_session_status.html", {"session": session})


@login_required
@require_POST
def check_work(request, session_id):
    session = _owned_session(request, session_id)
    wait = CHECK_LIMIT.retry_after(f"user-{request.user.pk}")
    if wait:
        logger.warning(
            "Learner %s pressed Check my work too often (session %s); "
            "rejected for %d s",
            request.user.get_username(),
            session.id,
            wait,
        )
        return render(
            request,
            "labs/_grading_run.html",
            {
                "run": None,
                "error": f"You checked {CHECK_LIMIT.attempts} times in a minute. "
                f"Wait {wait} s, then check again.",
            },
            status=429,
        )
    CHECK_LIMIT.record(f"user-{request.user.pk}")
    try:
        run = grading.grading_request(session=session)
    except grading.SessionNotReady as error:
        return render(
            request,
            "labs/_grading_run.html",
            {"run": None, "error": f"Cannot check yet: {error}."},
            status=409,
        )
    return render(request, "labs/_grading_run.html", {"run": run})


@login_required
@require_GET
def grading_run(request, run_id):
    run = get_object_or_404(GradingRun, pk=run_id, learner=request.user)
    return render(request, "labs/_grading_run.html", {"run": run})


def _editor_target(request, session_id, file_name):
    session = _owned_session(request, session_id)
    if not session.is_active:
        raise Http404("This lab session has ended")
    lab = get_catalog().lab(session.lab_slug)
    editor_file = lab.editor_file(file_name) if lab else None
    if editor_file is None:
        raise Http404(f"The lab has no editor file {file_name!r}")
    return session, lab, editor_file


@login_required
@require_http_methods(["GET", "POST"])
def editor_file(request, session_id, file_name):
    session, lab, target = _editor_target(request, session_id, file_name)
    if request.method == "GET":
        try:
            text = editor.editor_file_read(session=session, lab=lab, editor_file=target)
        except editor.EditorError as error:
            return render(
                request,
                "labs/_editor_result.html",
                {"lines": [("error", str(error))]},
                status=400,
            )
        return render(
            request,
            "labs/_editor.html",
            {"session": session, "file": target, "text": text},
        )

    if session.status != LabSession.Status.READY:
        return render(
            request,
            "labs/_editor_result.html",
            {
                "lines": [
                    (
                        "error",
                        "The lab environment is not ready; wait for it or start the lab.",
                    )
                ]
            },
            status=409,
        )
    try:
        result = editor.editor_file_save(
            session=session, editor_file=target, text=request.POST.get("text", "")
        )
    except editor.EditorError as error:
        return render(
            request,
            "labs/_editor_result.html",
            {"lines": [("error", str(error))]},
            status=400,
        )
    except ClusterError as error:
        logger.warning("Editor save for session %s failed: %s", session.id, error)
        return render(
            request,
            "labs/_editor_result.html",
            {
                "lines": [
                    (
                        "error",
                        "The cluster did not respond. Your file is saved; try again shortly.",
                    )
                ]
            },
            status=503,
        )
    return render(request, "labs/_editor_result.html", {"lines": result.messages})


@login_required
@require_POST
def reveal_solution(request, slug, step_number):
    lab = get_catalog().lab(slug)
    step = (
        next((s for s in lab.steps if s.number == step_number), None) if lab else None
    )
    if step is None or not step.solution_html:
        raise Http404("This step has no solution")
    services.solution_reveal(
        learner=request.user, lab_slug=slug, step_number=step_number
    )
    return render(request, "labs/_solution.html", {"step": step})


@login_required
@require_POST
def answer_question(request, session_id, question_id):
    session = _owned_session(request, session_id)
    lab = get_catalog().lab(session.lab_slug)
    question = lab.question(question_id) if lab else None
    if question is None:
        raise Http404(f"No question {question_id!r} in this lab")
    answer = request.POST.get("answer", "")
    if answer not in question.choices:
        return HttpResponse(
            f"Choose one of the listed answers, not {answer!r}.",
            status=400,
            content_type="text/plain",
        )
    services.session_record_answer(
        session=session, question_id=question_id, answer=answer
    )
    return render(
        request,
        "labs/_question.html",
        {"session": session, "question": question, "answer": answer},
    )


@login_required
@require_GET
def attack_surface(request, session_id):
    session = _owned_session(request, session_id)
    lab = get_catalog().lab(session.lab_slug)
    if lab is None or lab.editor_file("Dockerfile") is None:
        raise Http404("This lab has no Dockerfile to compare")
    try:
        comparison = dockerfile_comparison(lab=lab, namespace=session.namespace)
    except ClusterError as error:
        logger.warning(
            "Attack surface for session %s unavailable: %s", session.id, error
        )
        return HttpResponse(
            "The cluster did not respond. Try again shortly.",
            status=503,
            content_type="text/plain",
        )
    return render(request, "labs/_attack_surface.html", comparison)


@login_required
@require_GET
def audit_events(request, session_id):
    session = _owned_session(request, session_id)
    events = read_namespace_events(settings.AUDIT_LOG_PATH, session.namespace)
    if session.audit_reviewed_at is None:
        LabSession.objects.filter(pk=session.pk).update(
            audit_reviewed_at=timezone.now()
        )
    lab = get_catalog().lab(session.lab_slug)
    question = lab.question("audit-violation") if lab else None
    return render(
        request,
        "labs/_audit_events.html",
        {
            "session": session,
            "lab": lab,
            "question": question,
            "answer": session.answers.get("audit-violation"),
            **summarize_audit_events(events),
        },
    )
