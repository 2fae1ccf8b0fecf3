"""The ``ctphase`` command line: ``main`` assembles the commands, one module per command.

Each command parses its options and calls one library function; the library stays silent and
the commands talk (progress bars on a terminal, ``error: ...`` lines and exit codes).
"""

from .main import app

__all__ = ["app"]
