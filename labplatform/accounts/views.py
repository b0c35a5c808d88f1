"""Sign up; log in and out come from django.contrib.auth."""

import logging

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from labplatform.labsessions.services import sessions_close_terminals

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    """The password login, with a single sign-on button when one is set up."""

    def get_context_data(self, **kwargs):
        from django.conf import settings

        context = super().get_context_data(**kwargs)
        if settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]:
            context["sso_name"] = settings.OIDC_PROVIDER_NAME
        return context


class LogoutView(auth_views.LogoutView):
    """Log out and close the learner's open terminals with the session."""

    def post(self, request, *args, **kwargs):
        user = request.user
        response = super().post(request, *args, **kwargs)
        if user.is_authenticated:
            sessions_close_terminals(learner=user)
        return response


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("course-index")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Two backends are configured (passwords and single sign-on), so
        # login() needs the one that authenticated this user.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        logger.info("Learner %s signed up", user.get_username())
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target,
            allowed_hosts={request.get_host()},
            require_https=request.is_secure(),
        ):
            target = "course-index"
        return redirect(target)
    return render(request, "registration/signup.html", {"form": form})
