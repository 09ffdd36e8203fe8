"""The simulated FHIR registry serves the same pages whether it renders them as asked or
before it answers (the benchmark's way: its rendering is not the hub's time)."""
from __future__ import annotations

import urllib.request

import pytest
from cityhub_sim.medical import MedicalConfig, generate, serve_registry

from tests.conftest import free_port


@pytest.fixture(scope="module")
def world():
    return generate(MedicalConfig(institutions_per_county=12, fault_rate=0.05, bundle_size=25))


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


@pytest.mark.parametrize("query", ["_count=25&_offset=0", "_count=25&_offset=50", "_count=7&_offset=50",
                                   "_offset=25", "_count=25&_offset=100000"])
def test_pages_rendered_ahead_are_the_pages_rendered_as_asked(world, query):
    port = free_port()
    ahead, ahead_url = serve_registry(world, port=port, rendered_ahead=True)
    asked, asked_url = serve_registry(world)
    try:
        got = _get(f"{ahead_url}/fhir/Organization?{query}")
        want = _get(f"{asked_url}/fhir/Organization?{query}")
        assert got == want.replace(asked_url.encode(), ahead_url.encode())
    finally:
        ahead.shutdown()
        asked.shutdown()


def test_rendering_ahead_needs_the_port_the_links_name(world):
    with pytest.raises(ValueError, match="port"):
        serve_registry(world, rendered_ahead=True)
