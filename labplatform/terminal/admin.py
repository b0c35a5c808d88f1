from django.contrib import admin

from .models import TerminalRecording


@admin.register(TerminalRecording)
class TerminalRecordingAdmin(admin.ModelAdmin):
    list_display = ("session", "started_at", "ended_at", "size_bytes", "truncated")
    list_filter = ("truncated",)
    search_fields = ("session__namespace", "session__learner__username")
    readonly_fields = [f.name for f in TerminalRecording._meta.fields]
