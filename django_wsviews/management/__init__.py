"""Management commands of django-wsviews."""
