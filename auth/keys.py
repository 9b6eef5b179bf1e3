"""ES256 signing and verification keys, each known by its RFC 7638 thumbprint (the `kid`)."""

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import ECAlgorithm

from restapi.env import DEV_ASSET_MARKER


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class KeyRing:
    signer: SigningKey
    verifiers: dict[str, ec.EllipticCurvePublicKey]


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    return json.loads(ECAlgorithm.to_jwk(public_key))  # type: ignore[no-any-return]


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    jwk = public_jwk(public_key)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"Cannot read the JWT {what} {path}: make one with `manage.py generate_jwt_keys`"
        ) from exc


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(_read(path, "private key"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ImproperlyConfigured(f"{path} is not an EC P-256 private key (ES256)")
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(_read(path, "public key"))
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ImproperlyConfigured(f"{path} is not an EC P-256 public key (ES256)")
    return key


@cache
def key_ring() -> KeyRing:
    private_key = load_private_key(settings.TOKEN_ALGO_PRIVATE_KEY)
    public_key = load_public_key(settings.TOKEN_ALGO_PUBLIC_KEY)
    if public_key.public_numbers() != private_key.public_key().public_numbers():
        raise ImproperlyConfigured("TOKEN_ALGO_PUBLIC_KEY does not match TOKEN_ALGO_PRIVATE_KEY")
    kid = key_id(public_key)
    return KeyRing(signer=SigningKey(kid=kid, private_key=private_key), verifiers={kid: public_key})


def write_key_pair(private_path: Path, public_path: Path, *, dev: bool) -> str:
    """Makes a new P-256 key pair (PKCS#8 and SPKI PEM, private key mode 0600); returns its kid."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    marker = f"{DEV_ASSET_MARKER}\n".encode() if dev else b""
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.touch(mode=0o600, exist_ok=True)
    private_path.chmod(0o600)
    private_path.write_bytes(marker + private_pem)
    public_path.write_bytes(marker + public_pem)
    return key_id(private_key.public_key())
