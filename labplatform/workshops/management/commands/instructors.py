"""Grant, revoke and list the right to create workshops.

manage.py instructors add USERNAME...
manage.py instructors remove USERNAME...
manage.py instructors list
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from labplatform.workshops.models import INSTRUCTORS_GROUP


class Command(BaseCommand):
    help = "Manage who may create workshops (the Instructors group)."

    def add_arguments(self, parser):
        parser.add_argument(
            "action",
            choices=["add", "remove", "list"],
            help="Add users to the Instructors group, remove them, or list it.",
        )
        parser.add_argument(
            "usernames", nargs="*", help="Usernames of existing accounts."
        )

    def handle(self, *args, action, usernames, **options):
        group, _ = Group.objects.get_or_create(name=INSTRUCTORS_GROUP)
        if action == "list":
            names = [u.get_username() for u in group.user_set.order_by("username")]
            for name in names:
                self.stdout.write(name)
            if not names:
                self.stdout.write(
                    "Nobody may create workshops yet; grant it with "
                    "manage.py instructors add USERNAME."
                )
            return
        if not usernames:
            raise CommandError(f"Name at least one user to {action}.")
        users = get_user_model().objects.filter(username__in=usernames)
        missing = sorted(set(usernames) - {u.get_username() for u in users})
        if missing:
            raise CommandError(
                f"No account named {', '.join(missing)}; the user must sign up "
                "or be created with manage.py createsuperuser first."
            )
        for user in users:
            if action == "add":
                user.groups.add(group)
                self.stdout.write(f"{user.get_username()} may now create workshops")
            else:
                user.groups.remove(group)
                self.stdout.write(
                    f"{user.get_username()} may no longer create workshops"
                )
