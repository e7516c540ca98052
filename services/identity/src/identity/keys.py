"""Signing-key management.

The current signing key comes, in order, from ``signing_key_pem``, ``signing_key_file``, or
(development only) a key generated once into ``<state_dir>/identity/signing-key.pem``.
Retired keys stay verifiable: their public PEMs in ``previous_public_keys_pem`` are published
in the JWKS next to the current key. Every key is identified by its RFC 7638 JWK thumbprint
(``kid``), so the same key always gets the same kid on every worker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chassis.logging import get_logger
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from identity.config import IdentitySettings

log = get_logger(__name__)

MIN_KEY_BITS = 2048
DEV_KEY_RELATIVE_PATH = Path("identity") / "signing-key.pem"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order."""
    numbers = public_key.public_numbers()
    canonical = json.dumps({"e": _b64url_uint(numbers.e), "kty": "RSA",
                            "n": _b64url_uint(numbers.n)},
                           separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


@dataclass(frozen=True)
class KeyRing:
    """The current private key (signs) and every public key still accepted (verify/JWKS)."""

    private_key: rsa.RSAPrivateKey
    kid: str
    previous: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    generated: bool = False  # True when the development key was generated/loaded from state

    def public_keys(self) -> dict[str, Any]:
        """kid -> public key, the current key first (for chassis.auth.TokenVerifier)."""
        return {self.kid: self.private_key.public_key(),
                **{kid: key for kid, key in self.previous.items() if kid != self.kid}}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [public_jwk(key, kid) for kid, key in self.public_keys().items()]}


def _load_private_key(pem: bytes, source: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source}: not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{source}: the signing key must be an RSA key (RS256)")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"{source}: the signing key must have at least {MIN_KEY_BITS} bits")
    return key


def _load_public_key(pem: str, source: str) -> rsa.RSAPublicKey:
    data = pem.encode()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        # Accept a private key PEM too, publishing only its public half.
        return _load_private_key(data, source).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{source}: previous keys must be RSA public keys")
    return key


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def ensure_development_key(path: str | os.PathLike[str]) -> bytes:
    """The PEM at ``path``, generating an RSA-2048 key there first if there is none.

    Creation is atomic and race-free: the key is written to a private (0600) temporary file
    in the same folder and hard-linked to ``path``, which fails if another process got there
    first; every process then reads the one key that won.
    """
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = private_key_pem(rsa.generate_private_key(public_exponent=65537,
                                                       key_size=MIN_KEY_BITS))
        fd, tmp = tempfile.mkstemp(prefix=".signing-key-", suffix=".tmp", dir=target.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, target)
                log.warning("signing_key_generated", path=str(target),
                            note="development key; configure a real key in production")
            except FileExistsError:
                pass  # another worker won the race: use its key
        finally:
            os.unlink(tmp)
    return target.read_bytes()


def load_keyring(settings: IdentitySettings) -> KeyRing:
    generated = False
    if settings.signing_key_pem is not None:
        key = _load_private_key(settings.signing_key_pem.get_secret_value().encode(),
                                "signing_key_pem")
    elif settings.signing_key_file is not None:
        key = _load_private_key(settings.signing_key_file.read_bytes(),
                                f"signing_key_file {settings.signing_key_file}")
    else:
        path = settings.state_dir / DEV_KEY_RELATIVE_PATH
        key = _load_private_key(ensure_development_key(path), str(path))
        generated = True
    previous: dict[str, rsa.RSAPublicKey] = {}
    for index, pem in enumerate(settings.previous_public_keys_pem):
        public = _load_public_key(pem, f"previous_public_keys_pem[{index}]")
        previous[jwk_thumbprint(public)] = public
    return KeyRing(private_key=key, kid=jwk_thumbprint(key.public_key()), previous=previous,
                   generated=generated)
