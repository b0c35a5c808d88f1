"""Course pages: the index, a module, a lab."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from labplatform.labsessions.models import LabSession
from labplatform.labsessions.selectors import lab_page_state, progress_by_lab
from labplatform.workshops.models import Membership

from .catalog import get_catalog


def course_index(request):
    catalog = get_catalog()
    progress = progress_by_lab(request.user) if request.user.is_authenticated else {}
    modules = [
        {
            "module": module,
            "labs": [
                {"lab": lab, "progress": progress.get(lab.slug)}
                for lab in catalog.labs_of(module)
            ],
        }
        for module in catalog.modules
    ]
    return render(request, "content/index.html", {"modules": modules})


def module_detail(request, slug):
    catalog = get_catalog()
    module = catalog.module(slug)
    if module is None:
        raise Http404(f"No module {slug!r}")
    progress = progress_by_lab(request.user) if request.user.is_authenticated else {}
    labs = [
        {"lab": lab, "progress": progress.get(lab.slug)}
        for lab in catalog.labs_of(module)
    ]
    return render(request, "content/module.html", {"module": module, "labs": labs})


def lab_detail(request, slug):
    catalog = get_catalog()
    lab = catalog.lab(slug)
    if lab is None:
        raise Http404(f"No lab {slug!r}")
    module = catalog.module(lab.module_slug)
    state = lab_page_state(user=request.user, lab=lab)
    return render(
        request,
        "content/lab.html",
        {
            "lab": lab,
            "module": module,
            "has_dockerfile": lab.editor_file("Dockerfile") is not None,
            "has_audit_panel": lab.question("audit-violation") is not None,
            **state,
        },
    )


@login_required
def progress(request):
    """Render the learner's dashboard: progress per module, live labs, workshops."""
    catalog = get_catalog()
    rows = progress_by_lab(request.user)
    live = {
        session.lab_slug: session
        for session in LabSession.objects.filter(
            learner=request.user, status__in=LabSession.LIVE_STATUSES
        )
    }
    modules = []
    for module in catalog.modules:
        labs = [
            {"lab": lab, "progress": rows.get(lab.slug), "session": live.get(lab.slug)}
            for lab in catalog.labs_of(module)
        ]
        finished = sum(
            1
            for item in labs
            if item["progress"] and item["progress"].status == "completed"
        )
        modules.append({"module": module, "labs": labs, "finished": finished})
    # Where to resume: the newest live lab, else the unfinished lab worked on
    # most recently.
    resume = None
    if live:
        newest = max(live.values(), key=lambda session: session.created_at)
        resume = catalog.lab(newest.lab_slug)
    else:
        unfinished = [row for row in rows.values() if row.status == "in_progress"]
        if unfinished:
            latest = max(unfinished, key=lambda row: row.updated_at)
            resume = catalog.lab(latest.lab_slug)
    workshops = Membership.objects.filter(learner=request.user).select_related(
        "workshop"
    )
    return render(
        request,
        "content/progress.html",
        {"modules": modules, "resume": resume, "memberships": workshops},
    )
