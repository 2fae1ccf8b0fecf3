"""``python -m ctphase``: the command line, where the ``ctphase`` script is not installed (e.g. ``PYTHONPATH=src``)."""

from ctphase.cli import app

app(prog_name="ctphase")
