"""Building many parsed records without the cycle collector running over them.

JSON parsers build trees: dicts and lists with no reference cycles, so the cycle
collector has nothing to free in them. Yet every few hundred new containers it
runs, and each full pass walks every record built so far: with a delivery of
tens of thousands of FHIR resources (a dozen containers each) it took half the
time of a run. Collection is paused only while a format builds its records."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def acyclic() -> Iterator[None]:
    """Pause the cycle collector while acyclic records are built; it resumes (if it
    was on) afterwards, even on error. Reference counting still frees garbage."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
