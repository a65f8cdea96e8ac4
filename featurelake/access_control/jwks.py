"""Signed JWTs checked offline against a JWKS file (so an OIDC provider can front featurelake).

Only RS256 and ES256 signatures are accepted; ``none`` and HMAC (``HS*``) are refused before any
key is looked at, so neither an unsigned token nor one "signed" with a public key passes. Expiry,
not-before, issuer and audience are checked with a small leeway. Every refusal is an
:class:`~featurelake.errors.AccessDeniedError` that says why, and never quotes the token.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from featurelake.config.settings import CONSOLE_ROLES, ConsoleRole, JwtSettings
from featurelake.errors import AccessDeniedError, ConfigError

# the key types each accepted algorithm may be verified with (no RSA key for ES256 and back)
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has a JWT's three dot-separated parts (opaque tokens have no dots)."""
    return token.count(".") == 2


def _short(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _claim(claims: dict[str, Any], path: str) -> Any:
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@dataclass(frozen=True)
class _Keys:
    mtime_ns: int
    by_kid: dict[str, tuple[jwt.PyJWK, str | None]]  # kid -> (key, the alg the JWKS declares)


class JwtVerifier:
    """Verifies JWTs against ``console.jwt`` (the JWKS file is re-read when it changes).

    Args:
        settings: the ``console.jwt`` settings.

    Raises:
        ConfigError: the JWKS file is missing or holds no usable key.
    """

    def __init__(self, settings: JwtSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._keys = self._load()

    def _load(self) -> _Keys:
        path = Path(self.settings.jwks_file)
        try:
            stat = path.stat()
            data = json.loads(path.read_text())
        except OSError as err:
            raise ConfigError(
                f"console.jwt.jwks_file {str(path)!r} cannot be read ({err.strerror or err}); save the identity "
                "provider's JWKS (its jwks_uri document) there, or remove console.jwt"
            ) from None
        except ValueError:
            raise ConfigError(
                f"console.jwt.jwks_file {str(path)!r} is not JSON; save the provider's JWKS document there"
            ) from None
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list):
            raise ConfigError(f'console.jwt.jwks_file {str(path)!r} has no "keys" list; it is not a JWKS')
        by_kid: dict[str, tuple[jwt.PyJWK, str | None]] = {}
        for entry in keys:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not entry.get("kid"):
                continue  # encryption keys and keys without an id cannot verify our tokens
            if entry.get("kty") not in _KEY_TYPES.values():
                continue
            try:
                by_kid[str(entry["kid"])] = (jwt.PyJWK.from_dict(entry), entry.get("alg"))
            except jwt.PyJWTError:
                continue  # a key type PyJWT cannot use: skipped like the provider's other keys
        if not by_kid:
            raise ConfigError(
                f"console.jwt.jwks_file {str(path)!r} holds no RSA or EC signing key with a kid; "
                "export the provider's signing keys (RS256 or ES256)"
            )
        return _Keys(stat.st_mtime_ns, by_kid)

    def _key(self, kid: str) -> tuple[jwt.PyJWK, str | None] | None:
        with self._lock:
            try:
                changed = os.stat(self.settings.jwks_file).st_mtime_ns != self._keys.mtime_ns
            except OSError:
                changed = False  # keep the keys already loaded while the file is being replaced
            if changed:
                try:
                    self._keys = self._load()
                except ConfigError:
                    pass  # a half-written file: keep the last good keys
            return self._keys.by_kid.get(kid)

    def verify(self, token: str) -> tuple[str, ConsoleRole, float]:
        """The (identity, role, expiry as epoch seconds) a valid token names.

        Raises:
            AccessDeniedError: status 401 naming why the token is refused (malformed, algorithm,
                unknown key, signature, expiry, not-before, issuer, audience, missing claim), or
                403 if it is valid but grants no console role.
        """
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AccessDeniedError("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise AccessDeniedError(
                f"JWT algorithm {_short(alg)} is refused; console.jwt accepts {', '.join(s.algorithms)} "
                "(never none or HS*)"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AccessDeniedError(
                "the JWT has no kid (key id) header; the issuer must sign with a JWKS key"
            )
        found = self._key(kid)
        if found is None:
            raise AccessDeniedError(
                f"JWT key id {_short(kid)} is not in console.jwt.jwks_file; refresh the file from the "
                "identity provider's JWKS if its keys rotated"
            )
        key, declared = found
        if key.key_type != _KEY_TYPES[alg] or declared not in (None, alg):
            raise AccessDeniedError(f"JWT algorithm {alg} does not match key {_short(kid)}'s type")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AccessDeniedError(
                "the JWT has expired; get a fresh token from the identity provider"
            ) from None
        except jwt.ImmatureSignatureError:
            raise AccessDeniedError(
                "the JWT is not valid yet (nbf/iat in the future); check the clocks"
            ) from None
        except jwt.InvalidIssuerError:
            raise AccessDeniedError(
                f"the JWT's issuer is not console.jwt.issuer {_short(s.issuer)}"
            ) from None
        except jwt.InvalidAudienceError:
            raise AccessDeniedError(
                f"the JWT's audience does not include console.jwt.audience {_short(s.audience)}"
            ) from None
        except jwt.MissingRequiredClaimError as err:
            raise AccessDeniedError(f"the JWT lacks the {err.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AccessDeniedError(f"the JWT's signature does not verify with key {_short(kid)}") from None
        except jwt.PyJWTError as err:
            raise AccessDeniedError(f"the JWT is refused: {type(err).__name__}") from None
        except Exception:  # noqa: BLE001 - a crypto library error must be a 401, never a 500
            raise AccessDeniedError("the JWT could not be verified") from None
        name, role = self._identity(claims)
        return name, role, float(claims["exp"])

    def _identity(self, claims: dict[str, Any]) -> tuple[str, ConsoleRole]:
        s = self.settings
        name = _claim(claims, s.identity_claim)
        if not isinstance(name, str) or not name.strip():
            raise AccessDeniedError(
                f"the JWT has no {s.identity_claim!r} claim naming the identity (console.jwt.identity_claim)"
            )
        raw = _claim(claims, s.role_claim)
        values = [raw] if isinstance(raw, str) else [v for v in raw or [] if isinstance(v, str)]
        if s.role_map:
            roles = [s.role_map[v] for v in values if v in s.role_map]
        else:
            roles = [v for v in values if v in CONSOLE_ROLES]  # type: ignore[misc]
        if not roles:
            where = "none of them is in console.jwt.role_map" if s.role_map else "none is a console role"
            raise AccessDeniedError(
                f"identity {_short(name)} has no console role: claim {s.role_claim!r} holds "
                f"{[v[:40] for v in values][:10]}, {where}",
                status=403,
            )
        return name, max(roles, key=CONSOLE_ROLES.index)
