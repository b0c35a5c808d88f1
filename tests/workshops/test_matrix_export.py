"""The matrix's cells, summary and filters, and the CSV and JSON exports."""

import csv
import io
import json

import pytest
from django.utils import timezone

from labplatform.grading.models import GradingRun
from labplatform.labsessions.models import LabSession
from labplatform.workshops.matrix import build_rows, filter_rows, summarize

pytestmark = pytest.mark.django_db

PSS = "pod-security-standards"


@pytest.fixture
def world(make_user, make_workshop):
    teacher = make_user("tess", instructor=True)
    done, stuck, idle = make_user("dana"), make_user("sam"), make_user("-ivy")
    workshop = make_workshop(
        "friday", instructors=[teacher], members=[done, stuck, idle], labs=[PSS]
    )
    return {"workshop": workshop, "teacher": teacher, "done": done, "stuck": stuck}


def add_run(workshop, learner, statuses: dict[str, str], *, elsewhere=False):
    # Earlier sessions of the learner have ended; one stays live at a time.
    LabSession.objects.filter(learner=learner).update(status=LabSession.Status.ENDED)
    session = LabSession.objects.create(
        learner=learner,
        workshop=None if elsewhere else workshop,
        lab_slug=PSS,
        namespace=f"lab-{learner.username.strip('-')}-{GradingRun.objects.count()}",
        status=LabSession.Status.READY,
        expires_at=workshop.ends_at,
    )
    results = [
        {"id": check_id, "title": check_id, "status": status}
        for check_id, status in statuses.items()
    ]
    return GradingRun.objects.create(
        session=session,
        learner=learner,
        lab_slug=PSS,
        status=GradingRun.Status.DONE,
        results=results,
        passed_count=sum(1 for s in statuses.values() if s == "pass"),
        total_count=len(results),
        finished_at=timezone.now(),
    )


def all_checks(workshop):
    labs, _ = build_rows(workshop)
    return [check_id for check_id, _ in labs[0].checks]


def test_cells_summary_and_filters(world):
    workshop = world["workshop"]
    checks = all_checks(workshop)
    add_run(workshop, world["done"], {c: "fail" for c in checks})
    add_run(workshop, world["done"], {c: "pass" for c in checks})
    add_run(
        workshop, world["stuck"], {**{c: "pass" for c in checks}, checks[0]: "fail"}
    )
    # A passing run outside the workshop is not the instructor's business.
    add_run(workshop, world["stuck"], {c: "pass" for c in checks}, elsewhere=True)

    labs, rows = build_rows(workshop)
    by_name = {row.learner.username: row.cells[0] for row in rows}
    assert [lab.slug for lab in labs] == [PSS]
    assert by_name["dana"].state == "completed"
    assert by_name["sam"].state == "failing"
    assert by_name["sam"].checks[0][2] == "fail"
    assert by_name["sam"].passed_count == len(checks) - 1
    assert by_name["-ivy"].state == "not_started"

    (summary,) = summarize(labs, rows)
    assert (summary.started, summary.finished) == (2, 1)
    assert summary.stuck_on == [(labs[0].checks[0][1], 1)]

    names = lambda kept: [r.learner.username for r in kept]  # noqa: E731
    assert names(filter_rows(rows, lab="", state="stuck", query="")) == ["sam"]
    assert names(filter_rows(rows, lab=PSS, state="completed", query="")) == ["dana"]
    assert names(filter_rows(rows, lab="", state="not_started", query="")) == ["-ivy"]
    assert names(filter_rows(rows, lab="", state="all", query="DA")) == ["dana"]


def test_matrix_page_shows_cells_and_summary(world, client_for):
    workshop = world["workshop"]
    checks = all_checks(workshop)
    add_run(
        workshop, world["stuck"], {**{c: "pass" for c in checks}, checks[0]: "fail"}
    )

    page = client_for(world["teacher"]).get("/instruct/friday/?state=stuck")

    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="learner-{world["stuck"].pk}"' in html
    assert f'id="learner-{world["done"].pk}"' not in html
    assert 'class="cell cell-failing"' in html
    assert workshop.join_code in html
    assert 'ws-connect="/ws/workshops/friday/matrix/"' in html


def test_csv_export_row_per_learner_lab(world, client_for):
    workshop = world["workshop"]
    checks = all_checks(workshop)
    add_run(workshop, world["done"], {c: "pass" for c in checks})
    add_run(
        workshop, world["stuck"], {**{c: "pass" for c in checks}, checks[1]: "fail"}
    )

    response = client_for(world["teacher"]).get("/instruct/friday/export.csv")

    assert response["Content-Type"] == "text/csv"
    assert 'filename="friday-progress-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_name = {row["learner"]: row for row in rows}
    assert len(rows) == 3
    assert by_name["dana"]["completed"] == "yes"
    assert by_name["dana"]["checks_passed"] == str(len(checks))
    assert by_name["sam"]["state"] == "failing"
    assert (
        by_name["sam"]["failing_checks"]
        == dict((i, t) for i, t in build_rows(workshop)[0][0].checks)[checks[1]]
    )
    # A name a spreadsheet would run as a formula is quoted.
    assert "'-ivy" in by_name
    assert by_name["'-ivy"]["state"] == "not_started"


def test_json_export_lists_every_check(world, client_for):
    workshop = world["workshop"]
    checks = all_checks(workshop)
    add_run(
        workshop, world["stuck"], {**{c: "pass" for c in checks}, checks[0]: "fail"}
    )

    response = client_for(world["teacher"]).get("/instruct/friday/export.json")

    data = json.loads(response.content)
    assert data["workshop"]["slug"] == "friday"
    assert [c["id"] for c in data["labs"][0]["checks"]] == checks
    sam = next(item for item in data["learners"] if item["username"] == "sam")
    lab = sam["labs"][PSS]
    assert lab["checks"][checks[0]] == "fail"
    assert lab["checks_passed"] == len(checks) - 1
    assert lab["completed"] is False
    assert lab["session_status"] == "ready"
