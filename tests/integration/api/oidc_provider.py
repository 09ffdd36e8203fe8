"""A small but real OpenID Connect provider for the tests, served over HTTP on a
loopback port: discovery, the authorization endpoint (code flow, PKCE S256 required),
the token endpoint (client authentication, code and PKCE verifier checked, an ID token
signed RS256 with ``joserfc``), and the JWKS. The hub's client talks to it as to the
city's identity platform; nothing of the hub's own code is stood in for.

``who`` is the person who "signs in" at the next authorization; ``tamper`` lets a test
make the provider issue a token the hub must refuse (another audience, expired)."""
from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

PORTS = range(18250, 18260)


def _port() -> int:
    for p in PORTS:  # the range this suite's helpers were given, else any free port
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Provider:
    def __init__(self, client_id: str = "cityhub", client_secret: str = "s3cret-of-the-hub"):
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "city-idp-1", "use": "sig", "alg": "RS256"})
        self.port = _port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.who: dict = {}
        self.tamper: dict = {}
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self.app = self._app()

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"], "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "scopes_supported": ["openid", "profile"]}

        @app.get("/jwks")
        def jwks():
            return KeySet([self.key]).as_dict(private=False)

        @app.get("/authorize")
        def authorize(request: Request):
            q = request.query_params
            if q.get("response_type") != "code" or q.get("client_id") != self.client_id:
                return JSONResponse({"error": "invalid_request"}, 400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request", "error_description": "PKCE S256 required"}, 400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"redirect_uri": q["redirect_uri"], "nonce": q.get("nonce"),
                                "challenge": q["code_challenge"], "who": dict(self.who), "scope": q.get("scope")}
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}",
                                    status_code=302)

        @app.post("/token")
        def token(request: Request, grant_type: str = Form(...), code: str = Form(...),
                  redirect_uri: str = Form(...), code_verifier: str = Form(""),
                  client_id: str = Form(""), client_secret: str = Form("")):
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            self.token_requests.append({"grant_type": grant_type, "code_verifier": bool(code_verifier)})
            if (client_id, client_secret) != (self.client_id, self.client_secret):
                return JSONResponse({"error": "invalid_client"}, 401)
            grant = self.codes.pop(code, None)
            if grant_type != "authorization_code" or grant is None or grant["redirect_uri"] != redirect_uri:
                return JSONResponse({"error": "invalid_grant"}, 400)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}, 400)
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                      "nonce": grant["nonce"], **grant["who"], **self.tamper}
            id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
            return {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                    "id_token": id_token, "scope": grant["scope"]}

        return app

    @contextmanager
    def serving(self):
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                               lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test OpenID provider did not start")
            time.sleep(0.02)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(10)

    def settings_env(self) -> dict[str, str]:
        """The hub's settings for this provider, as ``CITYHUB_*`` variables."""
        return {"CITYHUB_OIDC_ISSUER": self.issuer, "CITYHUB_OIDC_CLIENT_ID": self.client_id,
                "CITYHUB_OIDC_CLIENT_SECRET": self.client_secret, "CITYHUB_OIDC_ROLE_CLAIM": "groups",
                "CITYHUB_OIDC_ROLE_MAP": '{"county-staff": "county", "dept-staff": "department", "ops": "admin"}',
                "CITYHUB_OIDC_REGION_CLAIM": "county_code", "CITYHUB_OIDC_DEPARTMENT_CLAIM": "dept"}
