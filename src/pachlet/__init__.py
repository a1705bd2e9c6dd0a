"""pachlet: run Pachyderm pipeline specs on one machine with Pachyderm 2.x semantics."""

__version__ = "0.1.0"
