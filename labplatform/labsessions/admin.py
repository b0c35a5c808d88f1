from django.contrib import admin

from .models import LabProgress, LabSession, PoolCluster, SolutionReveal


@admin.register(LabSession)
class LabSessionAdmin(admin.ModelAdmin):
    list_display = (
        "lab_slug",
        "learner",
        "namespace",
        "status",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "lab_slug", "workshop")
    search_fields = ("learner__username", "namespace")
    readonly_fields = ("id", "created_at")


@admin.register(LabProgress)
class LabProgressAdmin(admin.ModelAdmin):
    list_display = (
        "learner",
        "lab_slug",
        "status",
        "checks_passed",
        "checks_total",
        "completed_at",
    )
    list_filter = ("status", "lab_slug")
    search_fields = ("learner__username",)


@admin.register(SolutionReveal)
class SolutionRevealAdmin(admin.ModelAdmin):
    list_display = (
        "learner",
        "lab_slug",
        "step_number",
        "view_count",
        "first_viewed_at",
    )
    list_filter = ("lab_slug",)
    search_fields = ("learner__username",)


@admin.register(PoolCluster)
class PoolClusterAdmin(admin.ModelAdmin):
    list_display = ("name", "state", "session", "leased_at", "kubeconfig_path")
    list_filter = ("state",)
