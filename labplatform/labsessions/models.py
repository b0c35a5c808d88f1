"""A learner's lab session (one namespace) and their progress per lab."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class LabSession(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        ENDING = "ending", "Ending"
        ENDED = "ended", "Ended"

    # Sessions in these states hold (or are about to hold) a namespace.
    ACTIVE_STATUSES = (Status.PENDING, Status.PROVISIONING, Status.READY, Status.ENDING)
    # Sessions a learner works in. An ending session does not count, so a
    # learner can start afresh while the old namespace is still deleting.
    LIVE_STATUSES = (Status.PENDING, Status.PROVISIONING, Status.READY)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # None while the environment waits in a workshop's warm pool.
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="lab_sessions",
        null=True,
        blank=True,
    )
    workshop = models.ForeignKey(
        "workshops.Workshop",
        on_delete=models.SET_NULL,
        related_name="sessions",
        null=True,
        blank=True,
    )
    lab_slug = models.SlugField(max_length=64)
    namespace = models.CharField(max_length=63, unique=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # Provisioning steps done so far, shown live while the namespace is built.
    progress = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    audit_reviewed_at = models.DateTimeField(null=True, blank=True)
    # The learner's answers to the lab's questions, by question id.
    answers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            # One live session per learner and lab; ended ones stay as history.
            models.UniqueConstraint(
                fields=["learner", "lab_slug"],
                condition=Q(status__in=["pending", "provisioning", "ready"]),
                name="one_active_session_per_learner_and_lab",
            )
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.lab_slug} for {self.owner_name} ({self.status})"

    @property
    def owner_name(self) -> str:
        """The learner's username, or "warm pool" for an unclaimed session."""
        return self.learner.get_username() if self.learner_id else "warm pool"

    @property
    def is_pooled(self) -> bool:
        return self.learner_id is None

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def group_name(self) -> str:
        """Channels group that receives this session's live updates."""
        return f"labsession.{self.id}"


class LabProgress(models.Model):
    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_progress"
    )
    lab_slug = models.SlugField(max_length=64)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.NOT_STARTED
    )
    checks_passed = models.PositiveIntegerField(default=0)
    checks_total = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "lab_slug"],
                name="one_progress_row_per_learner_and_lab",
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} on {self.lab_slug}: {self.status}"


class SolutionReveal(models.Model):
    """A learner opened a step's solution; instructors see who needed help."""

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="solution_reveals",
    )
    lab_slug = models.SlugField(max_length=64)
    step_number = models.PositiveSmallIntegerField()
    first_viewed_at = models.DateTimeField(auto_now_add=True)
    view_count = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "lab_slug", "step_number"],
                name="one_reveal_row_per_learner_step",
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} revealed {self.lab_slug} step {self.step_number}"


class PoolCluster(models.Model):
    """A disposable cluster the host registered for labs with dedicated placement.

    One session leases one cluster; ending the session deletes its
    namespace there, runs the host's recycle command if there is one, and
    returns the cluster to the pool.
    """

    class State(models.TextChoices):
        FREE = "free", "Free"
        LEASED = "leased", "Leased"
        RECYCLING = "recycling", "Recycling"
        # The recycle command failed, so the cluster stays out of the pool
        # until a host checks it and runs `manage.py clusterpool free NAME`.
        BROKEN = "broken", "Broken"

    name = models.SlugField(max_length=63, unique=True)
    kubeconfig_path = models.CharField(max_length=1024)
    state = models.CharField(max_length=10, choices=State.choices, default=State.FREE)
    # A host command run after each lease to rebuild the cluster (a VM
    # snapshot restore, a kind delete and create...), with the cluster's
    # name and kubeconfig in its environment. Empty: only the session's
    # namespace is deleted.
    recycle_command = models.CharField(max_length=1024, blank=True)
    last_error = models.TextField(blank=True)
    session = models.OneToOneField(
        LabSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dedicated_cluster",
    )
    leased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"
