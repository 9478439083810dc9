"""A minimal Django project that the end-to-end tests serve with real ASGI servers."""
