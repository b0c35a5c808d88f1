"""Stored grading runs, one per press of "Check my work"."""

import uuid

from django.conf import settings
from django.db import models


class GradingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        ERROR = "error", "Error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(
        "labsessions.LabSession", on_delete=models.CASCADE, related_name="grading_runs"
    )
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grading_runs"
    )
    lab_slug = models.SlugField(max_length=64)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    # One dict per check: id, title, status, observed, hint, detail, duration_ms.
    results = models.JSONField(default=list, blank=True)
    passed_count = models.PositiveIntegerField(default=0)
    total_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["learner", "lab_slug", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.lab_slug} run for {self.learner}: {self.passed_count}/{self.total_count}"

    @property
    def judged_count(self) -> int:
        """Checks that could be judged on this cluster (not "not available")."""
        return sum(
            1 for result in self.results if result.get("status") != "not_available"
        )

    @property
    def all_passed(self) -> bool:
        return (
            self.status == self.Status.DONE
            and self.passed_count > 0
            and self.passed_count == self.judged_count
        )
