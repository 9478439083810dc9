"""Views, URLconfs, settings and helpers the tests share."""
