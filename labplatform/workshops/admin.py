from django.contrib import admin

from .models import Broadcast, Membership, Workshop


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("learner",)
    readonly_fields = ("joined_at",)


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "starts_at", "ends_at", "capacity", "join_code")
    search_fields = ("title", "slug", "join_code")
    readonly_fields = ("join_code", "created_at")
    filter_horizontal = ("instructors",)
    prepopulated_fields = {"slug": ("title",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("learner", "workshop", "source", "joined_at")
    list_filter = ("workshop", "source")
    search_fields = ("learner__username", "workshop__title")
    raw_id_fields = ("learner",)


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ("workshop", "message", "sent_by", "sent_at")
    list_filter = ("workshop",)
