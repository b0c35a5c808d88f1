"""Routes under /sso/: django-allauth for OpenID Connect sign-in only.

allauth.urls also brings allauth's own account pages. The platform keeps
its own sign-up, login and logout, and it verifies no email address. So
allauth's password sign-up, email management and password pages are
closed here, because through them a learner could create an account
with any email address or change their own. The social sign-in routes
(oidc/..., 3rdparty/...) stay open.

The closed paths are listed before allauth's, so they match first while
allauth's route names still reverse to the same addresses.
"""

from django.http import Http404
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from .views import LogoutView


def closed(request, *args, **kwargs):
    raise Http404(
        "This account page does not exist here. Sign up and log in under /accounts/."
    )


urlpatterns = [
    path("login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("signup/", RedirectView.as_view(pattern_name="signup", query_string=True)),
    path("logout/", LogoutView.as_view()),
    path("email/", closed),
    re_path(r"^confirm-email/", closed),
    re_path(r"^password/", closed),
    re_path(r"^login/code/", closed),
    re_path(r"^reauthenticate/code/", closed),
    path("", include("allauth.urls")),
]
