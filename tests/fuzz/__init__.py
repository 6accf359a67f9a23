"""Fuzz targets: what parses input from strangers, run under atheris (libFuzzer).

One module per target, each with ``TestOneInput(data: bytes)``, runnable as
``python -m tests.fuzz.<name> -max_total_time=N`` (see :mod:`tests.fuzz.harness` for the
defaults it adds). ``tests/test_fuzz.py`` runs each for a few seconds and replays every
input in ``crashes/`` that once broke citewatch.
"""
