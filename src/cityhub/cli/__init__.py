"""The ``cityhub`` command line (``cityhub.cli.main``)."""
