"""Signed JWTs checked offline against a JWKS file, through the console's HTTP API.

Keys are generated here; the JWKS file is written to a temporary folder. Every refusal is a
401 (or 403 for a valid token without a role) with a reason, never a 500, never the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from featurelake.config.settings import ConsoleSettings, JwtSettings, load_settings_from_dict
from featurelake.console.access import AccessControl
from featurelake.console.app import create_app
from featurelake.errors import ConfigError
from featurelake.registry import open_registry

ISSUER = "https://idp.example.test/realms/risk"
AUDIENCE = "featurelake-console"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    return {**algo.to_jwk(public_key, as_dict=True), "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture
def jwks_file(tmp_path: Path, keys: dict[str, Any]) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    _jwk(keys["rsa"].public_key(), "rsa-1", "RS256"),
                    _jwk(keys["ec"].public_key(), "ec-1", "ES256"),
                ]
            }
        )
    )
    return path


@pytest.fixture
def client(tmp_path: Path, jwks_file: Path) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        jwt=JwtSettings(
            jwks_file=jwks_file,
            issuer=ISSUER,
            audience=AUDIENCE,
            identity_claim="preferred_username",
            role_claim="realm_access.roles",
            role_map={"fl-readers": "viewer", "fl-approvers": "approver"},
            leeway_seconds=30,
        )
    )
    reg = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    yield TestClient(create_app(reg, project="fraud", access=AccessControl(settings)))
    reg.dispose()


def make_token(keys: dict[str, Any]) -> Callable[..., str]:
    def make(
        *,
        key: str = "rsa",
        kid: str = "rsa-1",
        alg: str = "RS256",
        roles: list[str] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "preferred_username": "ann",
            "realm_access": {"roles": ["offline_access", "fl-approvers"] if roles is None else roles},
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, keys[key], algorithm=alg, headers={"kid": kid})

    return make


def session(client: TestClient, token: str) -> Any:
    return client.get("/api/session", headers={"Authorization": f"Bearer {token}"})


def refused(client: TestClient, token: str, reason: str, status: int = 401) -> None:
    r = session(client, token)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"], r.json()
    # the token is never echoed, nor any of its parts
    assert token not in r.text and not any(len(part) > 8 and part in r.text for part in token.split("."))
    assert r.headers["www-authenticate"] == "Bearer" if status == 401 else True


def test_valid_rs256_and_es256_tokens_map_groups_to_roles(client: TestClient, keys) -> None:
    token = make_token(keys)
    me = session(client, token(roles=["fl-readers", "fl-approvers"]))
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["role"], me.json()["via"]) == ("ann", "approver", "jwt")
    es = session(client, token(key="ec", kid="ec-1", alg="ES256", roles=["fl-readers"]))
    assert (es.status_code, es.json()["role"]) == (200, "viewer")
    # the role's reach is the same as a token hash's: a viewer may read but not approve
    viewer = token(roles=["fl-readers"])
    assert client.get("/api/search", headers={"Authorization": f"Bearer {viewer}"}).status_code == 200
    # expired 10 s ago is inside the 30 s leeway
    assert session(client, token(exp=int(time.time()) - 10)).status_code == 200


def test_bad_tokens_get_401_with_the_reason(client: TestClient, keys) -> None:
    token = make_token(keys)
    now = int(time.time())
    refused(client, token(exp=now - 120), "expired")
    refused(client, token(nbf=now + 600), "not valid yet")
    refused(client, token(iss="https://evil.example.test"), "issuer")
    refused(client, token(aud="another-app"), "audience")
    refused(client, token(exp=None), "'exp' claim")
    refused(client, token(kid="rotated-away"), "key id 'rotated-away' is not in console.jwt.jwks_file")
    refused(client, token(key="stranger"), "signature does not verify")
    refused(client, token(key="ec", kid="rsa-1", alg="ES256"), "does not match key")
    refused(client, "abc.def.ghi", "not a well-formed JWT")
    refused(client, token(preferred_username=None), "'preferred_username' claim")

    # alg none: an unsigned token naming a known key
    head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "rsa-1"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(
        json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "preferred_username": "x"}).encode()
    ).rstrip(b"=")
    refused(client, f"{head.decode()}.{body.decode()}.", "algorithm 'none' is refused")
    # HS256 "signed" with the public key's PEM (the classic confusion attack)
    pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = b".".join(
        _b64(json.dumps(part).encode())
        for part in (
            {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"},
            {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "preferred_username": "x"},
        )
    )
    mac = _b64(hmac.new(pem, signing_input, hashlib.sha256).digest())
    forged = (signing_input + b"." + mac).decode()
    refused(client, forged, "algorithm 'HS256' is refused")

    # tampered: a viewer's token whose payload is swapped for an admin's, signature kept
    good = token(roles=["fl-readers"])
    head_b, _, sig = good.split(".")
    evil = base64.urlsafe_b64encode(
        json.dumps(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "exp": now + 300,
                "preferred_username": "ann",
                "realm_access": {"roles": ["fl-approvers"]},
            }
        ).encode()
    ).rstrip(b"=")
    refused(client, f"{head_b}.{evil.decode()}.{sig}", "signature does not verify")

    # valid, but no group maps to a role: authenticated, not authorised
    refused(client, token(roles=["offline_access"]), "has no console role", status=403)
    # an opaque token (no dots) is looked up among the token hashes, of which there are none
    refused(client, "opaque-token-without-dots", "matches no identity")


def test_jwt_settings_refuse_weak_algorithms_and_a_missing_jwks(tmp_path: Path) -> None:
    for alg in ("none", "HS256"):
        with pytest.raises(ConfigError, match="console.jwt.algorithms"):
            load_settings_from_dict(
                {"console": {"jwt": {"jwks_file": "x", "issuer": "i", "audience": "a", "algorithms": [alg]}}},
                environ={},
            )
    settings = ConsoleSettings(jwt=JwtSettings(jwks_file=tmp_path / "absent.json", issuer="i", audience="a"))
    with pytest.raises(ConfigError, match="absent.json"):
        AccessControl(settings)
    (tmp_path / "hs.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}))
    settings = ConsoleSettings(jwt=JwtSettings(jwks_file=tmp_path / "hs.json", issuer="i", audience="a"))
    with pytest.raises(ConfigError, match="no RSA or EC signing key"):
        AccessControl(settings)


def test_a_browser_session_from_a_jwt_ends_when_the_jwt_expires(client: TestClient, keys) -> None:
    token = make_token(keys)

    def sign_in(jwt_token: str) -> TestClient:
        client.cookies.clear()
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = client.post("/login", data={"token": jwt_token, "csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client

    fresh = sign_in(token(roles=["fl-readers"]))
    me = fresh.get("/api/session")
    assert (me.status_code, me.json()["name"], me.json()["via"]) == (200, "ann", "session")
    # expired 20 s ago: inside the leeway, so sign-in works, but the session ends at exp, i.e. now
    stale = sign_in(token(roles=["fl-readers"], exp=int(time.time()) - 20))
    assert stale.get("/api/session").status_code == 401


def test_public_paths_ignore_a_refused_credential(client: TestClient) -> None:
    stale = {"Authorization": "Bearer a.b.c"}
    assert client.get("/healthz", headers=stale).status_code == 200
    login = client.get("/login", headers=stale)
    assert login.status_code == 200 and login.headers["x-frame-options"] == "DENY"
    refused = client.get("/api/search", headers=stale)
    assert refused.status_code == 401 and refused.headers["content-security-policy"].startswith("default-src")


def test_a_rotated_jwks_file_is_read_again(client: TestClient, keys, jwks_file: Path) -> None:
    token = make_token(keys)
    rotated = token(key="stranger", kid="rsa-2")
    assert session(client, rotated).status_code == 401  # not in the file yet
    before = jwks_file.stat().st_mtime_ns
    jwks_file.write_text(json.dumps({"keys": [_jwk(keys["stranger"].public_key(), "rsa-2", "RS256")]}))
    os.utime(jwks_file, ns=(before + 1_000_000_000, before + 1_000_000_000))  # a later copy
    assert session(client, rotated).status_code == 200
    refused(client, token(), "key id 'rsa-1' is not in console.jwt.jwks_file")  # the old key is gone
