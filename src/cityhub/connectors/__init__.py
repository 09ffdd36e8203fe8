"""Connectors: sources that fetch what departments deliver, formats that decode
it, and the mapping to a contract's rows, as declared in ``schemas/connectors/``.
Running a connector (landing its batches) is ``cityhub.pipelines.ingest``."""
