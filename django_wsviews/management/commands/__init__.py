"""django-wsviews' commands: ``runserver``, serving WebSockets."""
