"""Benchmarks (pytest-benchmark).  A package, so that ``bench/conftest.py`` is imported
as ``bench.conftest`` and never shadows ``tests/conftest.py`` in a combined run."""
