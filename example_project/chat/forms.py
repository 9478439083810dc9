"""The forms of the chat's pages."""

from django import forms
from django.utils.text import slugify

from .models import ROOM_MAX_LENGTH, TEXT_MAX_LENGTH


class RoomForm(forms.Form):
    """The lobby's "open a room" form: any name, made a slug."""

    name = forms.CharField(max_length=ROOM_MAX_LENGTH, label="Room")

    def clean_name(self) -> str:
        slug = slugify(self.cleaned_data["name"])[:ROOM_MAX_LENGTH].strip("-")
        if not slug:
            raise forms.ValidationError("Use letters or digits.")
        return slug


class AnnounceForm(forms.Form):
    """The staff's "announce to every room" form."""

    text = forms.CharField(max_length=TEXT_MAX_LENGTH, label="Announcement")


class MessageForm(forms.Form):
    """The htmx page's composer: what ``ws-send`` sends, validated as a POST would be."""

    text = forms.CharField(max_length=TEXT_MAX_LENGTH, label="Message")
