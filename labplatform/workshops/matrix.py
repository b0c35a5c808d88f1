"""The progress matrix of a workshop: learners x labs x checks.

Each cell contains a learner's latest lab session and latest grading run in
this workshop. Only sessions started inside the workshop count, so the
matrix never shows an instructor what a learner did elsewhere.
"""

from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from django.utils import timezone

from labplatform.content.catalog import get_catalog
from labplatform.grading.checks import load_grader
from labplatform.grading.models import GradingRun
from labplatform.labsessions.models import LabSession

from .models import Membership, Workshop


@dataclass(frozen=True)
class LabColumn:
    slug: str
    title: str
    # (check id, check title) in the grader's order.
    checks: tuple[tuple[str, str], ...]


@cache
def _grader_checks(lab_slug: str) -> tuple[tuple[str, str], ...]:
    lab = get_catalog().lab(lab_slug)
    grader = load_grader(lab.folder)
    return tuple((item.id, item.title) for item in grader.CHECKS)


def workshop_labs(workshop: Workshop) -> list[LabColumn]:
    catalog = get_catalog()
    labs = [
        lab
        for module in catalog.modules
        for lab in catalog.labs_of(module)
        if workshop.allows_lab(lab.slug)
    ]
    return [LabColumn(lab.slug, lab.title, _grader_checks(lab.slug)) for lab in labs]


@dataclass
class Cell:
    lab: LabColumn
    session: LabSession | None = None
    run: GradingRun | None = None
    completed: bool = False
    # (check id, title, status) with status "pass", "fail", "error",
    # "not_available" or "not_run".
    checks: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def state(self) -> str:
        """One word for the cell's colour: the furthest the learner got."""
        if self.completed:
            return "completed"
        if self.session is None:
            return "not_started"
        if self.session.status in (
            LabSession.Status.PENDING,
            LabSession.Status.PROVISIONING,
        ):
            return "starting"
        if self.session.status == LabSession.Status.FAILED:
            return "failed"
        if self.run is not None and any(c[2] == "fail" for c in self.checks):
            return "failing"
        return "working"

    @property
    def passed_count(self) -> int:
        return sum(1 for c in self.checks if c[2] == "pass")

    @property
    def time_left_minutes(self) -> int | None:
        if self.session is None or self.session.status not in (
            LabSession.LIVE_STATUSES
        ):
            return None
        seconds = (self.session.expires_at - timezone.now()).total_seconds()
        return max(0, int(seconds // 60))


@dataclass
class Row:
    learner: object
    cells: list[Cell]

    @property
    def finished_count(self) -> int:
        return sum(1 for cell in self.cells if cell.completed)


def _fill_checks(cell: Cell) -> None:
    results = {
        r.get("id"): r.get("status") for r in (cell.run.results if cell.run else [])
    }
    cell.checks = [
        (check_id, title, results.get(check_id, "not_run"))
        for check_id, title in cell.lab.checks
    ]


def build_rows(
    workshop: Workshop, *, learner_ids=None
) -> tuple[list[LabColumn], list[Row]]:
    labs = workshop_labs(workshop)
    slugs = [lab.slug for lab in labs]
    memberships = Membership.objects.filter(workshop=workshop).select_related("learner")
    sessions = LabSession.objects.filter(workshop=workshop, lab_slug__in=slugs).exclude(
        learner=None
    )
    runs = GradingRun.objects.filter(
        session__workshop=workshop,
        lab_slug__in=slugs,
        status=GradingRun.Status.DONE,
    ).defer("session")
    if learner_ids is not None:
        memberships = memberships.filter(learner_id__in=learner_ids)
        sessions = sessions.filter(learner_id__in=learner_ids)
        runs = runs.filter(learner_id__in=learner_ids)
    members = [m.learner for m in memberships.order_by("learner__username")]

    latest_session: dict[tuple[int, str], LabSession] = {}
    for session in sessions.order_by("created_at"):
        latest_session[(session.learner_id, session.lab_slug)] = session
    latest_run: dict[tuple[int, str], GradingRun] = {}
    # A lab counts as finished here once a run in this workshop passed it.
    completed: set[tuple[int, str]] = set()
    for run in runs.order_by("created_at"):
        latest_run[(run.learner_id, run.lab_slug)] = run
        if run.all_passed:
            completed.add((run.learner_id, run.lab_slug))

    rows = []
    for learner in members:
        cells = []
        for lab in labs:
            key = (learner.pk, lab.slug)
            cell = Cell(
                lab=lab,
                session=latest_session.get(key),
                run=latest_run.get(key),
                completed=key in completed,
            )
            _fill_checks(cell)
            cells.append(cell)
        rows.append(Row(learner=learner, cells=cells))
    return labs, rows


@dataclass
class LabSummary:
    lab: LabColumn
    started: int
    finished: int
    # The three checks failed by the most unfinished learners, as
    # (check title, learner count), highest count first.
    stuck_on: list[tuple[str, int]]


def summarize(labs: list[LabColumn], rows: list[Row]) -> list[LabSummary]:
    summaries = []
    for index, lab in enumerate(labs):
        cells = [row.cells[index] for row in rows]
        failing = Counter(
            title
            for cell in cells
            if not cell.completed
            for _, title, status in cell.checks
            if status == "fail"
        )
        summaries.append(
            LabSummary(
                lab=lab,
                started=sum(1 for cell in cells if cell.session is not None),
                finished=sum(1 for cell in cells if cell.completed),
                stuck_on=failing.most_common(3),
            )
        )
    return summaries


FILTERS = {
    "all": "Everyone",
    "stuck": "Failing a check",
    "working": "Working",
    "not_started": "Not started",
    "completed": "Finished",
}


def filter_rows(rows: list[Row], *, lab: str, state: str, query: str) -> list[Row]:
    """Return the rows whose username contains query and whose cells match state.

    With lab set, only that lab's cell counts. Otherwise one matching cell is
    enough, except for "completed", which needs every lab finished.
    """
    query = query.strip().lower()
    kept = []
    for row in rows:
        if query and query not in row.learner.get_username().lower():
            continue
        cells = [c for c in row.cells if not lab or c.lab.slug == lab]
        if state == "stuck" and not any(c.state == "failing" for c in cells):
            continue
        if state == "working" and not any(
            c.state in ("working", "failing", "starting") for c in cells
        ):
            continue
        if state == "not_started" and not any(c.state == "not_started" for c in cells):
            continue
        if state == "completed" and not all(c.completed for c in cells):
            continue
        kept.append(row)
    return kept
