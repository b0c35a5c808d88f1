"""Workshop actions: joining, importing learners, broadcasts, session actions."""

import csv
import io
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from labplatform.labsessions import services as lab_services
from labplatform.labsessions.live import push_session_status
from labplatform.labsessions.models import LabSession
from labplatform.ratelimit import Limit

from . import live
from .models import Broadcast, Membership, Workshop, normalize_join_code

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 2000

# Wrong join codes allowed per learner account and per client address in
# 15 minutes. Codes have 31^8 (about 8.5e11) values, so at these rates a
# guess takes longer than any workshop lasts. The per-address limit is
# high because a whole room may share one address behind a proxy.
JOIN_FAILURES_PER_LEARNER = Limit("join-code-learner", attempts=10, window_seconds=900)
JOIN_FAILURES_PER_ADDRESS = Limit("join-code-address", attempts=100, window_seconds=900)


class JoinRejected(Exception):
    """The join code is unknown, the workshop is over, or it is full."""


class JoinThrottled(JoinRejected):
    """Too many wrong join codes from this learner or address."""


def workshop_by_code(code: str) -> Workshop | None:
    """Return the workshop with this join code, ignoring case and separators."""
    normalized = normalize_join_code(code)
    if not normalized:
        return None
    return Workshop.objects.filter(join_code=normalized).first()


def workshop_by_code_limited(
    *, learner, client_address: str, code: str
) -> Workshop | None:
    """Look up a join code typed by a learner, counting wrong codes.

    Raise JoinThrottled, without looking the code up, once the learner or
    the address has typed too many wrong codes. A lookup at that point
    would still tell a guesser which codes exist.
    """
    checks = [(JOIN_FAILURES_PER_LEARNER, f"user-{learner.pk}")]
    if client_address:
        checks.append((JOIN_FAILURES_PER_ADDRESS, f"address-{client_address}"))
    wait = max(limit.retry_after(ident) for limit, ident in checks)
    if wait:
        logger.warning(
            "Join code lookup by learner %s from %s rejected: too many wrong codes",
            learner.get_username(),
            client_address or "an unknown address",
        )
        raise JoinThrottled(
            "Too many wrong join codes. Wait "
            f"{(wait + 59) // 60} minutes, then type the code again, or ask "
            "your instructor for the join link."
        )
    workshop = workshop_by_code(code)
    if workshop is None and normalize_join_code(code):
        for limit, ident in checks:
            limit.record(ident)
    return workshop


def workshop_join(
    *, learner, code: str, client_address: str = ""
) -> tuple[Workshop, bool]:
    """Add the learner to the workshop with this code; return (workshop, joined)."""
    workshop = workshop_by_code_limited(
        learner=learner, client_address=client_address, code=code
    )
    if workshop is None:
        raise JoinRejected(
            "No workshop has this code. Check it with your instructor; codes "
            "are 8 letters and digits."
        )
    if workshop.has_ended():
        raise JoinRejected(f"The workshop {workshop.title!r} has ended.")
    with transaction.atomic():
        # Lock the workshop so two learners cannot both take the last seat.
        Workshop.objects.select_for_update().filter(pk=workshop.pk).first()
        if Membership.objects.filter(workshop=workshop, learner=learner).exists():
            return workshop, False
        if workshop.memberships.count() >= workshop.capacity:
            raise JoinRejected(
                f"The workshop {workshop.title!r} is full ({workshop.capacity} "
                "learners). Ask your instructor for a seat."
            )
        Membership.objects.create(
            workshop=workshop, learner=learner, source=Membership.Source.JOIN_CODE
        )
    logger.info(
        "Learner %s joined workshop %s with its join code",
        learner.get_username(),
        workshop.slug,
    )
    live.push_learner_row(workshop, learner.pk)
    return workshop, True


def workshop_for_lab(*, learner, lab_slug: str) -> Workshop | None:
    """Return the open workshop that a new session of this lab belongs to.

    A learner in several open workshops is counted in the one joined last
    that offers the lab.
    """
    now = timezone.now()
    memberships = (
        Membership.objects.filter(
            learner=learner,
            workshop__starts_at__lte=now,
            workshop__ends_at__gt=now,
        )
        .select_related("workshop")
        .order_by("-joined_at")
    )
    for membership in memberships:
        if membership.workshop.allows_lab(lab_slug):
            return membership.workshop
    return None


@dataclass
class ImportResult:
    errors: list[str] = field(default_factory=list)
    # (username, initial password or "" for an existing account)
    created: list[tuple[str, str]] = field(default_factory=list)
    added_existing: list[str] = field(default_factory=list)
    # Existing accounts the instructor does not teach yet: they join with
    # the code themselves.
    not_added: list[str] = field(default_factory=list)


def _read_import_rows(
    data: bytes, result: ImportResult
) -> list[tuple[int, dict]] | None:
    """Parse the CSV into (line number, values) pairs.

    Return None when the file as a whole is unusable. Problems on single
    lines are added to result.errors and parsing continues, so the
    instructor gets every bad line in one report.
    """
    if len(data) > MAX_IMPORT_BYTES:
        result.errors.append(
            f"The file is larger than {MAX_IMPORT_BYTES // 1024} KiB; split it."
        )
        return None
    nul_at = data.find(b"\x00")
    if nul_at >= 0:
        # PostgreSQL cannot store NUL in text, and no spreadsheet writes one.
        result.errors.append(
            f"The file contains a NUL byte (byte {nul_at}); save it as CSV UTF-8 text."
        )
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        result.errors.append(
            f"The file is not UTF-8 text (byte {error.start}); save it as CSV UTF-8."
        )
        return None
    reader = csv.DictReader(io.StringIO(text))
    fields = [name.strip().lower() for name in reader.fieldnames or []]
    if "username" not in fields or "email" not in fields:
        result.errors.append(
            "Line 1: the header must name the columns username and email "
            "(first_name and last_name are optional)."
        )
        return None
    reader.fieldnames = fields
    rows = []
    try:
        for row in reader:
            if len(rows) >= MAX_IMPORT_ROWS:
                result.errors.append(
                    f"The file has more than {MAX_IMPORT_ROWS} learners; split it."
                )
                return None
            if None in row:
                result.errors.append(
                    f"Line {reader.line_num}: more values than columns in the header."
                )
                continue
            values = {key: (value or "").strip() for key, value in row.items()}
            if not any(values.values()):
                continue  # a blank line
            rows.append((reader.line_num, values))
    except csv.Error as error:
        result.errors.append(f"Line {reader.line_num}: {error}.")
        return None
    return rows


def _line_number(error: str) -> int:
    number = error.removeprefix("Line ").split(":")[0]
    return int(number) if number.isdigit() else 0


class _SeatsTaken(Exception):
    """Learners took the seats while the import was being prepared."""


def _drop_untaught_accounts(plan, *, by, result: ImportResult) -> list:
    """Keep existing accounts only if the instructor already teaches them.

    A username and an email address are no proof of consent. Anyone who
    has both could otherwise enroll another workshop's learner, then
    watch their terminal and message their pages. Accounts the instructor
    has taught before (or any, for a superuser) are added; the others are
    listed so the instructor can send them the join code.
    """
    if by.is_superuser:
        return plan
    taught = set(
        Membership.objects.filter(workshop__instructors=by).values_list(
            "learner_id", flat=True
        )
    )
    kept = []
    for values, user in plan:
        if user is None or user.pk in taught:
            kept.append((values, user))
        else:
            result.not_added.append(user.get_username())
    return kept


def learners_import_csv(*, workshop: Workshop, data: bytes, by) -> ImportResult:
    """Create accounts from a CSV and add them to the workshop, all or nothing.

    Every bad row is reported with its line number. If there is any, no
    account is created and no learner is added. New accounts get a random
    initial password, shown once to the instructor.
    """
    result = ImportResult()
    rows = _read_import_rows(data, result)
    if rows is None:
        return result
    user_model = get_user_model()
    validate_username = UnicodeUsernameValidator()
    seen: dict[str, int] = {}
    plan = []
    for line, values in rows:
        username, email = values.get("username", ""), values.get("email", "")
        problems = []
        if not username:
            problems.append("username is empty")
        elif len(username) > 150:
            problems.append("username is longer than 150 characters")
        else:
            try:
                validate_username(username)
            except ValidationError:
                problems.append(
                    f"username {username!r} may contain only letters, digits "
                    "and @ . + - _"
                )
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"email {email!r} is not a valid address")
        key = username.lower()
        if key and key in seen:
            problems.append(f"username {username!r} is already on line {seen[key]}")
        seen.setdefault(key, line)
        existing = (
            user_model.objects.filter(username__iexact=username).first()
            if username
            else None
        )
        if existing is not None and existing.email.lower() != email.lower():
            problems.append(
                f"an account {existing.username!r} exists with "
                + (
                    "another email address"
                    if existing.email
                    else "no email address; add it in the admin first"
                )
            )
        if problems:
            result.errors.append(f"Line {line}: {'; '.join(problems)}.")
        else:
            plan.append((values, existing))
    result.errors.sort(key=_line_number)
    plan = _drop_untaught_accounts(plan, by=by, result=result)
    members = set(workshop.memberships.values_list("learner_id", flat=True))
    joining = sum(1 for _, user in plan if user is None or user.pk not in members)
    if not result.errors and len(members) + joining > workshop.capacity:
        result.errors.append(
            f"The workshop has {workshop.capacity} seats and {len(members)} "
            f"taken; this file adds {joining}. Raise the capacity first."
        )
    if result.errors:
        return result
    # Hashing takes about 0.3 s per password (Django 5.2's PBKDF2 on a
    # 2-core machine), so it happens before the transaction. On SQLite an
    # open write transaction blocks every other write on the site, such as
    # learners starting labs.
    passwords = {
        values["username"]: secrets.token_urlsafe(9)
        for values, user in plan
        if user is None
    }
    hashes = {name: make_password(password) for name, password in passwords.items()}
    try:
        with transaction.atomic():
            # Learners may have joined with the code since the count above.
            Workshop.objects.select_for_update().filter(pk=workshop.pk).first()
            members = set(workshop.memberships.values_list("learner_id", flat=True))
            joining = sum(
                1 for _, user in plan if user is None or user.pk not in members
            )
            if len(members) + joining > workshop.capacity:
                raise _SeatsTaken(
                    f"The workshop has {workshop.capacity} seats and {len(members)} "
                    f"taken; this file adds {joining}. Raise the capacity first."
                )
            for values, user in plan:
                if user is None:
                    user = user_model.objects.create_user(
                        username=values["username"],
                        email=values["email"],
                        first_name=values.get("first_name", "")[:150],
                        last_name=values.get("last_name", "")[:150],
                    )
                    user.password = hashes[values["username"]]
                    user.save(update_fields=["password"])
                    result.created.append(
                        (user.username, passwords[values["username"]])
                    )
                else:
                    result.added_existing.append(user.username)
                Membership.objects.get_or_create(
                    workshop=workshop,
                    learner=user,
                    defaults={"source": Membership.Source.IMPORT},
                )
    except _SeatsTaken as error:
        return ImportResult(errors=[str(error)])
    except IntegrityError as error:
        # Someone signed up with one of these names while the file was read.
        return ImportResult(
            errors=[
                "The import was undone because an account was created or changed "
                f"while it ran ({error}). Upload the file again."
            ]
        )
    logger.info(
        "Instructor %s imported %d new and %d existing learners into workshop %s "
        "(%d existing accounts left to join with the code)",
        by.get_username(),
        len(result.created),
        len(result.added_existing),
        workshop.slug,
        len(result.not_added),
    )
    live.push_matrix(workshop)
    return result


def broadcast_send(*, workshop: Workshop, message: str, by) -> Broadcast:
    message = message.strip()
    if not message:
        raise ValueError("Write a message before sending it.")
    if len(message) > Broadcast.MAX_LENGTH:
        raise ValueError(
            f"A message may have at most {Broadcast.MAX_LENGTH} characters."
        )
    broadcast = Broadcast.objects.create(workshop=workshop, message=message, sent_by=by)
    logger.info(
        "Instructor %s sent a broadcast to workshop %s",
        by.get_username(),
        workshop.slug,
    )
    live.push_broadcast(broadcast)
    return broadcast


def broadcast_clear(*, workshop: Workshop, by) -> None:
    """Take the current message off the learners' pages.

    A clearing is stored as an empty message, so the history stays.
    """
    broadcast = Broadcast.objects.create(workshop=workshop, message="", sent_by=by)
    logger.info(
        "Instructor %s cleared the broadcast of workshop %s",
        by.get_username(),
        workshop.slug,
    )
    live.push_broadcast(broadcast)


def current_broadcast(workshop: Workshop) -> Broadcast | None:
    latest = workshop.broadcasts.first()
    return latest if latest is not None and latest.message else None


def latest_broadcast_for(learner) -> Broadcast | None:
    """Return the newest current broadcast of the learner's open workshops."""
    now = timezone.now()
    workshops = Workshop.objects.filter(
        memberships__learner=learner, starts_at__lte=now, ends_at__gt=now
    )
    current = [b for b in map(current_broadcast, workshops) if b is not None]
    return max(current, key=lambda b: b.sent_at, default=None)


def workshop_session(workshop: Workshop, session_id) -> LabSession | None:
    """Return the workshop's session with this id, or None.

    A session of another workshop, or of the warm pool, is not found.
    """
    return (
        LabSession.objects.filter(pk=session_id, workshop=workshop)
        .exclude(learner=None)
        .select_related("learner")
        .first()
    )


def session_extend(*, session: LabSession, by) -> LabSession:
    minutes = settings.SESSION_EXTEND_MINUTES
    base = max(session.expires_at, timezone.now())
    LabSession.objects.filter(
        pk=session.pk, status__in=LabSession.LIVE_STATUSES
    ).update(expires_at=base + timedelta(minutes=minutes))
    session.refresh_from_db()
    # The learner's page shows the new end time at once.
    push_session_status(session)
    logger.info(
        "Instructor %s extended session %s of learner %s (lab %s) by %d minutes",
        by.get_username(),
        session.id,
        session.owner_name,
        session.lab_slug,
        minutes,
    )
    return session


def session_end_by_instructor(*, session: LabSession, by) -> None:
    logger.info(
        "Instructor %s ended session %s of learner %s (lab %s)",
        by.get_username(),
        session.id,
        session.owner_name,
        session.lab_slug,
    )
    lab_services.session_request_end(
        session=session, message="Your instructor ended this lab session."
    )


def session_reset_by_instructor(*, session: LabSession, by) -> LabSession:
    logger.info(
        "Instructor %s reset session %s of learner %s (lab %s)",
        by.get_username(),
        session.id,
        session.owner_name,
        session.lab_slug,
    )
    return lab_services.session_reset(
        session=session,
        message="Your instructor restarted this lab in a fresh namespace. "
        "Reload the page to open its terminal.",
    )


def sessions_end_all(*, workshop: Workshop, by) -> int:
    """End every live session of the workshop, warm pool included."""
    sessions = list(
        LabSession.objects.filter(
            workshop=workshop, status__in=LabSession.LIVE_STATUSES
        )
    )
    for session in sessions:
        lab_services.session_request_end(
            session=session, message="Your instructor ended this lab session."
        )
    logger.info(
        "Instructor %s ended all %d live sessions of workshop %s",
        by.get_username(),
        len(sessions),
        workshop.slug,
    )
    return len(sessions)
