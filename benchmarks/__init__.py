"""Benchmarks and the standard shake test, kept apart from the code they measure.
``python -m benchmarks`` (``make bench``) prints the whole suite as JSON."""
