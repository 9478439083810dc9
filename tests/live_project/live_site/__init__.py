"""
A small project whose tests use django-wsviews' live server.

``python manage.py test`` (in ``tests/live_project``) runs ``live_site.tests``
with Django's test runner, on SQLite (in memory) or, with
``--settings=live_site.settings_postgres``, PostgreSQL;
``pytest -c pytest.ini live_site/pytest_live.py live_site/pytest_shared.py``
runs the pytest versions. ``live_site.failing`` fails on purpose. The test
suite runs them in subprocesses (tests/test_testing_live.py), and serves
``live_site.urls`` itself for its own live-server tests.
"""
