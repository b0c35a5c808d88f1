"""Finishing a lab when some checks cannot run on this cluster."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labplatform.content.templatetags.lab_text import inline_code
from labplatform.grading.models import GradingRun
from labplatform.grading.services import _update_progress
from labplatform.labsessions.models import LabProgress, LabSession

pytestmark = pytest.mark.django_db


def make_run(user, statuses: list[str]) -> GradingRun:
    session = LabSession.objects.create(
        learner=user,
        lab_slug="container-escape",
        namespace=f"lab-p-{len(statuses)}",
        status=LabSession.Status.READY,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    results = [{"id": f"c{i}", "status": status} for i, status in enumerate(statuses)]
    return GradingRun.objects.create(
        session=session,
        learner=user,
        lab_slug="container-escape",
        status=GradingRun.Status.DONE,
        results=results,
        total_count=len(results),
        passed_count=statuses.count("pass"),
    )


def test_not_available_does_not_block_completion(django_user_model):
    user = django_user_model.objects.create_user("nina", password="pw-123456!x")
    run = make_run(user, ["pass", "pass", "not_available"])

    _update_progress(run)

    progress = LabProgress.objects.get(learner=user, lab_slug="container-escape")
    assert run.all_passed
    assert progress.status == LabProgress.Status.COMPLETED
    assert (progress.checks_passed, progress.checks_total) == (2, 2)


def test_failure_still_blocks_completion(django_user_model):
    user = django_user_model.objects.create_user("omar", password="pw-123456!x")
    run = make_run(user, ["pass", "fail", "not_available"])

    _update_progress(run)

    progress = LabProgress.objects.get(learner=user, lab_slug="container-escape")
    assert not run.all_passed
    assert progress.status != LabProgress.Status.COMPLETED


def test_only_not_available_is_not_completion(django_user_model):
    user = django_user_model.objects.create_user("pia", password="pw-123456!x")

    assert not make_run(user, ["not_available"]).all_passed


def test_inline_code_escapes_first():
    html = inline_code("Run `lab submit <file>` & <b>check</b>")

    assert html == (
        "Run <code>lab submit &lt;file&gt;</code> &amp; &lt;b&gt;check&lt;/b&gt;"
    )
