"""Terminal recordings: what a learner's shell printed, as asciicast v2."""

import uuid

from django.db import models


class TerminalRecording(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(
        "labsessions.LabSession",
        on_delete=models.CASCADE,
        related_name="recordings",
    )
    # Relative to settings.RECORDINGS_DIR.
    file_name = models.CharField(max_length=200)
    width = models.PositiveSmallIntegerField(default=80)
    height = models.PositiveSmallIntegerField(default=24)
    size_bytes = models.PositiveBigIntegerField(default=0)
    # True when the recording stopped at the size cap before the terminal closed.
    truncated = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Recording of session {self.session_id} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_live(self) -> bool:
        return self.ended_at is None
