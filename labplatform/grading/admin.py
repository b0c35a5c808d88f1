from django.contrib import admin

from .models import GradingRun


@admin.register(GradingRun)
class GradingRunAdmin(admin.ModelAdmin):
    list_display = (
        "lab_slug",
        "learner",
        "status",
        "passed_count",
        "total_count",
        "created_at",
    )
    list_filter = ("status", "lab_slug")
    search_fields = ("learner__username", "session__namespace")
    readonly_fields = ("id", "results", "created_at", "finished_at")
