"""Workshop pages: joining for learners, the matrix and actions for instructors."""

import json
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from labplatform.content.catalog import get_catalog
from labplatform.grading.models import GradingRun
from labplatform.labsessions.models import LabSession
from labplatform.labsessions.services import TooManySessions
from labplatform.terminal.models import TerminalRecording
from labplatform.terminal.recording import recording_path

from . import access, services
from .export import export_csv, export_json
from .forms import BroadcastForm, ImportForm, JoinForm, WorkshopForm
from .matrix import FILTERS, build_rows, filter_rows, summarize
from .models import Broadcast, Membership

logger = logging.getLogger(__name__)


# Learners


@login_required
@require_http_methods(["GET", "POST"])
def join(request, code: str = ""):
    form = JoinForm(request.POST or None, initial={"code": code})
    client_address = request.META.get("REMOTE_ADDR", "")
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            workshop, joined = services.workshop_join(
                learner=request.user,
                code=form.cleaned_data["code"],
                client_address=client_address,
            )
        except services.JoinRejected as rejection:
            form.add_error("code", str(rejection))
            if isinstance(rejection, services.JoinThrottled):
                status = 429
        else:
            if joined:
                messages.success(request, f"You joined {workshop.title}.")
            else:
                messages.info(request, f"You are already in {workshop.title}.")
            return redirect("progress")
    workshop, rejection = None, ""
    if code and request.method == "GET":
        # The link's code counts like a typed one: the page names the
        # workshop, which would otherwise confirm guessed codes.
        try:
            workshop = services.workshop_by_code_limited(
                learner=request.user, client_address=client_address, code=code
            )
        except services.JoinThrottled as throttled:
            rejection, status = str(throttled), 429
    already_member = (
        workshop is not None
        and Membership.objects.filter(workshop=workshop, learner=request.user).exists()
    )
    return render(
        request,
        "workshops/join.html",
        {
            "form": form,
            "workshop": workshop,
            "rejection": rejection,
            "already_member": already_member,
        },
        status=status,
    )


@login_required
def broadcast_banner(request):
    """Render the learner's latest broadcast, which every page polls."""
    broadcast = services.latest_broadcast_for(request.user)
    return render(request, "workshops/_broadcast.html", {"broadcast": broadcast})


# Instructors


@login_required
def instructor_home(request):
    if not access.is_instructor(request.user):
        raise PermissionDenied("Only instructors can open this page.")
    workshops = access.workshops_taught_by(request.user).prefetch_related("memberships")
    return render(
        request,
        "workshops/instructor_home.html",
        {
            "workshops": workshops,
            "can_create": access.can_create_workshops(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def workshop_create(request):
    if not access.can_create_workshops(request.user):
        raise PermissionDenied(
            "Only members of the Instructors group create workshops."
        )
    form = WorkshopForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workshop = form.save()
        workshop.instructors.add(request.user)
        logger.info(
            "Instructor %s created workshop %s",
            request.user.get_username(),
            workshop.slug,
        )
        return redirect("workshop-matrix", slug=workshop.slug)
    return render(request, "workshops/workshop_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def workshop_edit(request, slug):
    workshop = access.workshop_for_instructor(request.user, slug)
    form = WorkshopForm(request.POST or None, instance=workshop)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Workshop saved.")
        return redirect("workshop-matrix", slug=workshop.slug)
    return render(
        request, "workshops/workshop_form.html", {"form": form, "workshop": workshop}
    )


@login_required
def workshop_matrix(request, slug):
    workshop = access.workshop_for_instructor(request.user, slug)
    labs, rows = build_rows(workshop)
    lab_filter = request.GET.get("lab", "")
    state = request.GET.get("state", "all")
    if state not in FILTERS:
        state = "all"
    query = request.GET.get("q", "")[:100]
    shown = filter_rows(rows, lab=lab_filter, state=state, query=query)
    join_path = reverse("workshop-join-code", args=[workshop.join_code])
    return render(
        request,
        "workshops/matrix.html",
        {
            "workshop": workshop,
            "labs": labs,
            "rows": shown,
            "total_learners": len(rows),
            "summaries": summarize(labs, rows),
            "filters": FILTERS,
            "lab_filter": lab_filter,
            "state": state,
            "query": query,
            "join_url": request.build_absolute_uri(join_path),
            "broadcast_form": BroadcastForm(),
            "current_broadcast": services.current_broadcast(workshop),
            "pool_waiting": LabSession.objects.filter(
                workshop=workshop, learner=None, status=LabSession.Status.READY
            ).count(),
        },
    )


def _member_or_404(workshop, learner_id):
    membership = (
        Membership.objects.filter(workshop=workshop, learner_id=learner_id)
        .select_related("learner")
        .first()
    )
    if membership is None:
        raise Http404("Learner not found in this workshop.")
    return membership.learner


@login_required
def learner_detail(request, slug, learner_id):
    workshop = access.workshop_for_instructor(request.user, slug)
    learner = _member_or_404(workshop, learner_id)
    _, rows = build_rows(workshop, learner_ids=[learner.pk])
    sessions = LabSession.objects.filter(workshop=workshop, learner=learner).order_by(
        "-created_at"
    )
    runs = GradingRun.objects.filter(
        session__workshop=workshop, learner=learner
    ).order_by("-created_at")[:50]
    recordings = TerminalRecording.objects.filter(
        session__workshop=workshop, session__learner=learner
    ).select_related("session")[:30]
    catalog = get_catalog()
    sessions, runs, recordings = list(sessions), list(runs), list(recordings)
    for item in [*sessions, *runs, *(r.session for r in recordings)]:
        lab = catalog.lab(item.lab_slug)
        item.lab_title = lab.title if lab else item.lab_slug
    live_session = next(
        (s for s in sessions if s.status == LabSession.Status.READY), None
    )
    return render(
        request,
        "workshops/learner.html",
        {
            "workshop": workshop,
            "learner": learner,
            "row": rows[0] if rows else None,
            "sessions": sessions,
            "runs": runs,
            "recordings": recordings,
            "live_session": live_session,
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def session_action(request, slug, session_id, action):
    workshop = access.workshop_for_instructor(request.user, slug)
    session = services.workshop_session(workshop, session_id)
    if session is None:
        raise Http404("Session not found in this workshop.")
    if session.status not in LabSession.LIVE_STATUSES:
        messages.error(request, "That session has already ended.")
    elif action == "extend":
        services.session_extend(session=session, by=request.user)
        messages.success(
            request,
            f"{session.owner_name}'s {session.lab_slug} session now ends at "
            f"{timezone.localtime(session.expires_at):%H:%M} UTC.",
        )
    elif action == "end":
        services.session_end_by_instructor(session=session, by=request.user)
        messages.success(
            request, f"Ended {session.owner_name}'s {session.lab_slug} session."
        )
    elif action == "reset":
        try:
            services.session_reset_by_instructor(session=session, by=request.user)
        except TooManySessions as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                f"{session.owner_name}'s {session.lab_slug} lab restarts in a "
                "fresh namespace.",
            )
    else:
        raise Http404(f"Unknown session action {action!r}: use extend, end or reset.")
    return redirect(
        "workshop-learner", slug=workshop.slug, learner_id=session.learner_id
    )


@login_required
@require_POST
def end_all(request, slug):
    workshop = access.workshop_for_instructor(request.user, slug)
    count = services.sessions_end_all(workshop=workshop, by=request.user)
    messages.success(request, f"Ending {count} lab sessions.")
    return redirect("workshop-matrix", slug=workshop.slug)


@login_required
@require_POST
def broadcast(request, slug):
    workshop = access.workshop_for_instructor(request.user, slug)
    if request.POST.get("clear"):
        services.broadcast_clear(workshop=workshop, by=request.user)
        messages.success(request, "The message is gone from the learners' pages.")
        return redirect("workshop-matrix", slug=workshop.slug)
    form = BroadcastForm(request.POST)
    if form.is_valid():
        try:
            services.broadcast_send(
                workshop=workshop, message=form.cleaned_data["message"], by=request.user
            )
        except ValueError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Message sent to every learner's page.")
    else:
        messages.error(
            request,
            f"Write a message of at most {Broadcast.MAX_LENGTH} characters.",
        )
    return redirect("workshop-matrix", slug=workshop.slug)


@login_required
def export(request, slug, fmt):
    workshop = access.workshop_for_instructor(request.user, slug)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        response = HttpResponse(export_csv(workshop), content_type="text/csv")
    elif fmt == "json":
        response = HttpResponse(
            json.dumps(export_json(workshop), indent=2),
            content_type="application/json",
        )
    else:
        raise Http404(f"Unknown export format {fmt!r}: use csv or json.")
    response["Content-Disposition"] = (
        f'attachment; filename="{workshop.slug}-progress-{stamp}.{fmt}"'
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def import_learners(request, slug):
    workshop = access.workshop_for_instructor(request.user, slug)
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read(services.MAX_IMPORT_BYTES + 1)
        result = services.learners_import_csv(
            workshop=workshop, data=data, by=request.user
        )
    return render(
        request,
        "workshops/import.html",
        {"workshop": workshop, "form": form, "result": result},
    )


@login_required
def recording_file(request, slug, recording_id):
    workshop = access.workshop_for_instructor(request.user, slug)
    recording = TerminalRecording.objects.filter(
        pk=recording_id, session__workshop=workshop
    ).first()
    if recording is None:
        raise Http404("Recording not found in this workshop.")
    path = recording_path(recording)
    if not path.is_file():
        raise Http404("The recording's file is missing from RECORDINGS_DIR.")
    response = FileResponse(open(path, "rb"), content_type="application/x-asciicast")
    response["Cache-Control"] = "no-store"
    return response
