"""The cycle collector is paused only while a format builds records, and always resumes."""
import gc

import pytest

from cityhub.connectors.formats import fhir
from cityhub.connectors.parsing import acyclic
from cityhub.core.payloads import Payload
from cityhub.declarations.connectors import FhirFormat


def test_paused_inside_and_resumed_after_even_on_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), acyclic():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_caller_that_paused_collection_keeps_it_paused():
    gc.disable()
    try:
        with acyclic():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_fhir_decoding_leaves_the_collector_on_also_for_a_malformed_bundle():
    fmt = FhirFormat(kind="fhir", resource_type="Organization")
    good = Payload("b.json", b'{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Organization","id":"1"}}]}',
                   "utf-8")
    bad = Payload("c.json", b'{"resourceType":"Bundle","entry":', "utf-8")
    out = fhir.decode(fmt, [good, bad])
    assert [r["id"] for r in out.records] == ["1"]
    assert [r.source for r in out.rejects] == ["c.json"]
    assert gc.isenabled()
