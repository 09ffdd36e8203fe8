"""Mapping functions for what a connector declaration cannot say by renaming
(named by ``function: cityhub.connectors.mappings.<module>:<name>``)."""
