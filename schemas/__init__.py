"""The declarations installed with the hub (data only): contracts/, connectors/,
indicators.yaml, regions.yaml, catalog.yaml, star_thresholds.yaml.
Read by ``cityhub.declarations``."""
