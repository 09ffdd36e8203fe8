"""Simulators of CityHub's sector feeds, in the formats the real feeds use (faults
included): camera networking (GB/T 28181), traffic signals, medical institutions
(FHIR), social security (GB18030 CSV). A demo and test tool, installed apart from
the hub (``cityhub-sim``); it adds ``cityhub simulate`` and ``cityhub run``."""
