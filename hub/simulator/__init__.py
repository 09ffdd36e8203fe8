"""Simulators of the sector feeds, in the formats the real feeds use (faults included)."""
