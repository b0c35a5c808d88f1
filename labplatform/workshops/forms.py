"""Forms for instructors and for joining a workshop."""

from django import forms

from labplatform.content.catalog import get_catalog

from .models import Broadcast, Workshop


def _lab_choices():
    catalog = get_catalog()
    return [
        (lab.slug, lab.title)
        for module in catalog.modules
        for lab in catalog.labs_of(module)
    ]


class WorkshopForm(forms.ModelForm):
    labs = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave every box empty to open all labs.",
    )

    class Meta:
        model = Workshop
        fields = [
            "title",
            "slug",
            "starts_at",
            "ends_at",
            "capacity",
            "labs",
            "warm_pool_size",
        ]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }
        help_texts = {
            "slug": "Used in the workshop's address; letters, digits and hyphens.",
            "warm_pool_size": "Lab environments built ahead per lab, so that "
            "learners start instantly. 0 turns the warm pool off.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["labs"].choices = _lab_choices()
        self.fields["capacity"].min_value = 1
        self.fields["warm_pool_size"].max_value = 100


class JoinForm(forms.Form):
    code = forms.CharField(max_length=32, label="Join code")


class BroadcastForm(forms.Form):
    message = forms.CharField(
        max_length=Broadcast.MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: username, email, and optionally first_name and last_name.",
    )
