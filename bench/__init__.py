"""Benchmarks of englog against Celery + Redis (issue 6); run with `python -m bench`."""
