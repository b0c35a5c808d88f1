"""Sign up; log in and out come from django.contrib.auth."""

import logging

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

logger = logging.getLogger(__name__)


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("course-index")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        logger.info("Learner %s signed up", user.get_username())
        return redirect(request.GET.get("next") or "course-index")
    return render(request, "registration/signup.html", {"form": form})
