"""ES256 signing and verification keys, each known by its RFC 7638 thumbprint (the `kid`)."""

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import ECAlgorithm

from restapi.env import DEV_ASSET_MARKER

logger = logging.getLogger(__name__)

# Under SERVER_PKI_DIR_JWT: public keys of former signers, kept for verification until
# tokens they signed have expired, and a staged next key pair (see rotate_jwt_keys).
PREVIOUS_DIR = "previous"
NEXT_DIR = "next"
PRIVATE_NAME = "private-key-pkcs8.pem"
PUBLIC_NAME = "public-key.pem"


# write_key_pair puts this line, and when the pair was made, above the private key's PEM
# block: a mounted Secret's files have the time they were mounted as their mtime, not the
# key's. Keys made elsewhere (OpenSSL) have their file's mtime instead.
CREATED_PREFIX = "restapi key created: "
CREATED_LINE = re.compile(rb"^" + re.escape(CREATED_PREFIX.encode()) + rb"(\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    # When the key was made (seconds since the epoch), for its age (restapi.metrics).
    created: float


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


def _pem_files() -> list[Path]:
    directory = settings.SERVER_PKI_DIR_JWT
    return [
        settings.TOKEN_ALGO_PRIVATE_KEY,
        settings.TOKEN_ALGO_PUBLIC_KEY,
        *sorted((directory / PREVIOUS_DIR).glob("*.pem")),
        directory / NEXT_DIR / PUBLIC_NAME,
    ]


def _stamp() -> tuple[tuple[str, int, int], ...]:
    stamp = []
    for path in _pem_files():
        try:
            stat = path.stat()
        except OSError:
            continue
        stamp.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stamp)


def created_at(path: Path) -> float:
    """When the key in this file was made: its CREATED_PREFIX line, else the file's mtime."""
    found = CREATED_LINE.search(_read(path, "private key"))
    if found:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(found.group(1).decode()).timestamp()
    return path.stat().st_mtime


def _load() -> KeyRing:
    private_key = load_private_key(settings.TOKEN_ALGO_PRIVATE_KEY)
    public_key = load_public_key(settings.TOKEN_ALGO_PUBLIC_KEY)
    if public_key.public_numbers() != private_key.public_key().public_numbers():
        raise ImproperlyConfigured("TOKEN_ALGO_PUBLIC_KEY does not match TOKEN_ALGO_PRIVATE_KEY")
    kid = key_id(public_key)
    verifiers = {kid: public_key}
    for path in _pem_files()[2:]:
        if path.exists():
            extra = load_public_key(path)
            verifiers.setdefault(key_id(extra), extra)
    signer = SigningKey(
        kid=kid, private_key=private_key, created=created_at(settings.TOKEN_ALGO_PRIVATE_KEY)
    )
    return KeyRing(signer=signer, verifiers=verifiers)


class KeyStore:
    """The process's key ring, re-read when the key files change: rotation needs no restart.

    The files are stat()ed at most once a second, or at once when a token names an unknown
    `kid` (another process may have rotated). A half-written rotation keeps the old ring.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._checked_at = 0.0

    def ring(self, *, recheck: bool = False) -> KeyRing:
        ring = self._ring
        if ring is not None and not recheck and time.monotonic() - self._checked_at < 1:
            return ring
        with self._lock:
            self._checked_at = time.monotonic()
            stamp = _stamp()
            if self._ring is None or stamp != self._stamp:
                try:
                    self._ring, self._stamp = _load(), stamp
                except (ImproperlyConfigured, ValueError):
                    if self._ring is None:
                        raise
                    logger.warning(
                        "JWT key files changed but do not load yet; keeping the old keys"
                    )
            return self._ring

    def reset(self) -> None:
        with self._lock:
            self._ring, self._stamp, self._checked_at = None, (), 0.0


key_store = KeyStore()


def key_ring() -> KeyRing:
    return key_store.ring()


def write_key_pair(private_path: Path, public_path: Path, *, dev: bool) -> str:
    """Makes a new P-256 key pair (PKCS#8 and SPKI PEM, private key mode 0600); returns its kid."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    marker = f"{DEV_ASSET_MARKER}\n".encode() if dev else b""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    created_line = f"{CREATED_PREFIX}{created}\n".encode()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_atomically(private_path, marker + created_line + private_pem, mode=0o600)
    write_atomically(public_path, marker + public_pem, mode=0o644)
    return key_id(private_key.public_key())


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.touch(mode=mode, exist_ok=True)
    temporary.chmod(mode)
    temporary.write_bytes(data)
    os.replace(temporary, path)
