"""Workshops: a cohort of learners, its instructors, and what it may use."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

# Letters and digits that cannot be mistaken for each other when read
# aloud or from a projector (no 0/O, 1/I/L).
JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8
INSTRUCTORS_GROUP = "Instructors"


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def learners_group_for(workshop_id) -> str:
    """Channels group of a workshop's learners' pages, for broadcast messages."""
    return f"workshop.{workshop_id}.learners"


def normalize_join_code(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


class Workshop(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    join_code = models.CharField(
        max_length=16, unique=True, default=new_join_code, editable=False
    )
    capacity = models.PositiveIntegerField(default=30)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Lab slugs learners of this workshop may start; empty means every lab.
    labs = models.JSONField(default=list, blank=True)
    # Lab environments built ahead of time per open lab, so that learners
    # start instantly; 0 turns the warm pool off.
    warm_pool_size = models.PositiveSmallIntegerField(default=0)
    instructors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="instructed_workshops", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The workshop must end after it starts."})

    def is_open(self, now=None) -> bool:
        now = now or timezone.now()
        return self.starts_at <= now < self.ends_at

    def has_ended(self, now=None) -> bool:
        return (now or timezone.now()) >= self.ends_at

    def allows_lab(self, lab_slug: str) -> bool:
        return not self.labs or lab_slug in self.labs

    @property
    def group_name(self) -> str:
        """Channels group of the instructors' live pages."""
        return f"workshop.{self.pk}.instructors"

    @property
    def learners_group_name(self) -> str:
        return learners_group_for(self.pk)


class Membership(models.Model):
    class Source(models.TextChoices):
        JOIN_CODE = "code", "Join code"
        IMPORT = "import", "CSV import"
        ADMIN = "admin", "Added by an instructor"

    workshop = models.ForeignKey(
        Workshop, on_delete=models.CASCADE, related_name="memberships"
    )
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="workshop_memberships",
    )
    source = models.CharField(
        max_length=8, choices=Source.choices, default=Source.JOIN_CODE
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workshop", "learner"], name="one_membership_per_workshop"
            )
        ]
        ordering = ["learner__username"]

    def __str__(self) -> str:
        return f"{self.learner} in {self.workshop}"


class Broadcast(models.Model):
    """A message from the instructors shown on every learner's page."""

    MAX_LENGTH = 500

    workshop = models.ForeignKey(
        Workshop, on_delete=models.CASCADE, related_name="broadcasts"
    )
    message = models.CharField(max_length=MAX_LENGTH)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL
    )
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.workshop}: {self.message[:40]}"
