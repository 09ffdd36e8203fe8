"""The compact JWS with Ed25519 (``cityhub.core.jose``) against RFC 8037's own examples
(appendix A): the key, its thumbprint, and the signed example, byte for byte."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cityhub.core import jose
from cityhub.core.errors import NotAuthentic

# RFC 8037, A.1
D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
# A.3
THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
# A.4
PAYLOAD = b"Example of Ed25519 signing"
JWS = ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
       "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(jose.unb64u(D))


def test_the_public_key_and_its_thumbprint_are_the_rfc_s(key):
    jwk = jose.public_jwk(key.public_key())
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": X}
    assert jose.thumbprint(jwk) == THUMBPRINT


def test_signing_the_example_gives_the_rfc_s_jws_and_it_verifies(key):
    assert jose.sign(PAYLOAD, key) == JWS  # Ed25519 is deterministic: the very same bytes
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "k"}]}
    signed = jose.sign(PAYLOAD, key, {"kid": "k"})
    assert jose.verify(signed, jwks) == ({"alg": "EdDSA", "kid": "k"}, PAYLOAD)
    # the RFC's JWS carries no kid: it verifies with its key, but names none a JWKS has
    assert jose.split(JWS) == ({"alg": "EdDSA"}, PAYLOAD)
    with pytest.raises(NotAuthentic, match="unknown key"):
        jose.verify(JWS, jwks)


def test_a_changed_byte_or_another_key_fails_the_signature(key):
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "k"}]}
    signed = jose.sign(PAYLOAD, key, {"kid": "k"})
    header, _, sig = signed.split(".")
    for forged in (f"{header}.{jose.b64u(b'Example of Ed25519 signinG')}.{sig}",
                   jose.sign(PAYLOAD, Ed25519PrivateKey.generate(), {"kid": "k"})):
        with pytest.raises(NotAuthentic) as e:
            jose.verify(forged, jwks)
        assert e.value.failed == "signature"
    for bad_key in ({"kty": "OKP", "crv": "X25519", "x": X, "kid": "k"}, {"kty": "OKP", "crv": "Ed25519", "x": "AA",
                                                                         "kid": "k"}):
        with pytest.raises(NotAuthentic, match="not usable"):
            jose.verify(signed, {"keys": [bad_key]})


@pytest.mark.parametrize("text", ["", "a.b", "a.b.c.d", "!.e30.AA", "WzFd.e30.AA", "eyJhbGciOiJIUzI1NiJ9.e30.AA"])
def test_what_is_not_an_eddsa_compact_jws_is_malformed(text):
    with pytest.raises(NotAuthentic) as e:
        jose.split(text)
    assert e.value.failed == "malformed"
