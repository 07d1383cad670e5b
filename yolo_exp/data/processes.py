"""The start method for our own worker processes (loader workers, the label scan's pool).

A launcher may install its own multiprocessing context as the process-wide default: joblib's loky workers (the
``parallel`` launcher) do, and its ``Process._Popen`` then receives torch's plain worker processes and fails
(``'Process' object has no attribute 'env'``). Our workers are standard library processes, so they get the
platform's standard start method whenever the default context is not one of the standard library's.
"""
from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import BaseContext

STDLIB_METHODS = ("fork", "spawn", "forkserver")


def worker_context() -> BaseContext | None:
    """None (the default context) when it is a standard library one, else the platform's default start method
    (the first of ``get_all_start_methods``: fork on Linux before Python 3.14, forkserver after, spawn on macOS)."""
    if mp.get_start_method(allow_none=True) in (None, *STDLIB_METHODS):
        return None
    methods = [m for m in mp.get_all_start_methods() if m in STDLIB_METHODS]
    return mp.get_context(methods[0])
