"""Course pages: the index, a module, a lab."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from labplatform.labsessions.selectors import lab_page_state, progress_by_lab

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
    catalog = get_catalog()
    rows = progress_by_lab(request.user)
    labs = [
        {"lab": lab, "progress": rows.get(lab.slug)}
        for module in catalog.modules
        for lab in catalog.labs_of(module)
    ]
    return render(request, "content/progress.html", {"labs": labs})
