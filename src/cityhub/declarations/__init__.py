"""Declarations: contracts, connectors, indicators, regions, the catalogue and star
thresholds, read from YAML into typed models that refuse mistakes (file, path,
line and what is wrong). ``load`` gives the whole set with what is broken."""
from cityhub.declarations.registry import DeclaredCatalogue, Declarations, load

__all__ = ["DeclaredCatalogue", "Declarations", "load"]
