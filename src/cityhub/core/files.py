"""Files the hub writes hold personal data (lake files, the hub DB, archived deliveries,
the quarantine): the hub's processes create them for their own user alone."""
from __future__ import annotations

import os

PRIVATE_UMASK = 0o077
"""Files 0600, folders 0700: readable by the service account only."""


def private_files() -> None:
    """From now on, files and folders this process creates are its user's alone. Called
    by the entry points (the ``cityhub`` command, each API worker, each Airflow task), not
    by library code: a process's umask is the process's own business."""
    os.umask(PRIVATE_UMASK)
