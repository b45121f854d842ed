from django.contrib import admin

from realtime.models import Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "private")
    list_filter = ("private",)
    search_fields = ("name",)
    filter_horizontal = ("members",)
