"""Export a workshop's progress as CSV (one row per learner and lab) or JSON."""

import csv
import io

from .matrix import build_rows

CSV_COLUMNS = [
    "learner",
    "email",
    "lab",
    "state",
    "completed",
    "checks_passed",
    "checks_total",
    "failing_checks",
    "session_status",
    "last_graded_at",
]


def _spreadsheet_safe(value) -> str:
    """Stop a spreadsheet from reading a learner-chosen value as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _lab_record(cell) -> dict:
    return {
        "state": cell.state,
        "completed": cell.completed,
        "checks_passed": cell.passed_count,
        "checks_total": len(cell.checks),
        "checks": {check_id: status for check_id, _, status in cell.checks},
        "session_status": cell.session.status if cell.session else None,
        "last_graded_at": (
            cell.run.finished_at.isoformat()
            if cell.run and cell.run.finished_at
            else None
        ),
    }


def export_json(workshop) -> dict:
    labs, rows = build_rows(workshop)
    return {
        "workshop": {
            "slug": workshop.slug,
            "title": workshop.title,
            "starts_at": workshop.starts_at.isoformat(),
            "ends_at": workshop.ends_at.isoformat(),
        },
        "labs": [
            {
                "slug": lab.slug,
                "title": lab.title,
                "checks": [{"id": i, "title": t} for i, t in lab.checks],
            }
            for lab in labs
        ],
        "learners": [
            {
                "username": row.learner.get_username(),
                "email": row.learner.email,
                "labs": {cell.lab.slug: _lab_record(cell) for cell in row.cells},
            }
            for row in rows
        ],
    }


def export_csv(workshop) -> str:
    _, rows = build_rows(workshop)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        for cell in row.cells:
            record = _lab_record(cell)
            failing = [t for _, t, status in cell.checks if status == "fail"]
            writer.writerow(
                [
                    _spreadsheet_safe(row.learner.get_username()),
                    _spreadsheet_safe(row.learner.email),
                    cell.lab.slug,
                    record["state"],
                    "yes" if cell.completed else "no",
                    record["checks_passed"],
                    record["checks_total"],
                    "; ".join(failing),
                    record["session_status"] or "",
                    record["last_graded_at"] or "",
                ]
            )
    return out.getvalue()
