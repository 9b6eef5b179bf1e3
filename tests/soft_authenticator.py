"""A software WebAuthn authenticator for the tests: ES256, "none" attestation, a sign
counter, the user-verified flag, allowCredentials and excludeCredentials honoured.

Vendored from soft-webauthn's SoftWebauthnDevice (MIT, bodik/soft-webauthn), with its
create()/get() interface, but on cryptography and cbor2 only (webauthn's own
dependencies): soft-webauthn needs a fido2 1.x that caps cryptography below the version
pinned here, and it never sets the user-verified flag that a passwordless login requires.

`register` and `sign` are what a browser does around it: they take the options the
service answers (JSON, binary fields base64url) and give the PublicKeyCredential as JSON.
"""

import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

# Authenticator data flags (WebAuthn §6.1).
USER_PRESENT, USER_VERIFIED, ATTESTED = 0x01, 0x04, 0x40


class SoftWebauthnDevice:
    """One credential, made by create() and used by get()."""

    def __init__(self, *, user_verified: bool = True) -> None:
        self.credential_id: bytes | None = None
        self.private_key: ec.EllipticCurvePrivateKey | None = None
        self.aaguid = b"\x00" * 16
        self.rp_id: str | None = None
        self.user_handle: bytes | None = None
        self.sign_count = 0
        self.user_verified = user_verified

    def clone(self) -> "SoftWebauthnDevice":
        """The same key on another device whose counter starts again at 0: what a copied
        authenticator looks like to the relying party. (EC keys cannot be deep-copied.)"""
        copy = SoftWebauthnDevice(user_verified=self.user_verified)
        copy.credential_id, copy.private_key = self.credential_id, self.private_key
        copy.rp_id, copy.user_handle = self.rp_id, self.user_handle
        return copy

    def _flags(self, *, attested: bool) -> bytes:
        flags = USER_PRESENT | (USER_VERIFIED if self.user_verified else 0)
        return bytes([flags | (ATTESTED if attested else 0)])

    def _cose_key(self) -> bytes:
        assert self.private_key is not None
        numbers = self.private_key.public_key().public_numbers()
        # kty EC2, alg ES256, crv P-256, x, y (RFC 9053).
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: bytes, origin: str) -> bytes:
        data = {
            "type": kind,
            "challenge": bytes_to_base64url(challenge),
            "origin": origin,
            "crossOrigin": False,
        }
        return json.dumps(data).encode()

    def create(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        """navigator.credentials.create(): `options` is {"publicKey": ...} with bytes."""
        public_key = options["publicKey"]
        if {"alg": -7, "type": "public-key"} not in public_key["pubKeyCredParams"]:
            raise ValueError("ES256 not offered")
        excluded = [c["id"] for c in public_key.get("excludeCredentials", [])]
        if self.credential_id is not None and self.credential_id in excluded:
            raise ValueError("InvalidStateError: credential already registered")
        self.credential_id = os.urandom(32)
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.rp_id = public_key["rp"]["id"]
        self.user_handle = public_key["user"]["id"]
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + self._flags(attested=True)
            + struct.pack(">I", self.sign_count)
            + self.aaguid
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "rawId": self.credential_id,
            "type": "public-key",
            "response": {"clientDataJSON": client_data, "attestationObject": attestation},
        }

    def get(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        """navigator.credentials.get(): `options` is {"publicKey": ...} with bytes."""
        public_key = options["publicKey"]
        if self.rp_id != public_key["rpId"]:
            raise ValueError("rpId does not match the credential")
        allowed = [c["id"] for c in public_key.get("allowCredentials") or []]
        if allowed and self.credential_id not in allowed:
            raise ValueError("NotAllowedError: no allowed credential on this device")
        assert self.private_key is not None and self.credential_id is not None
        self.sign_count += 1
        client_data = self._client_data("webauthn.get", public_key["challenge"], origin)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + self._flags(attested=False)
            + struct.pack(">I", self.sign_count)
        )
        signature = self.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "rawId": self.credential_id,
            "type": "public-key",
            "response": {
                "authenticatorData": auth_data,
                "clientDataJSON": client_data,
                "signature": signature,
                "userHandle": self.user_handle,
            },
        }

    def register(
        self, options: dict[str, Any], origin: str, transports: tuple[str, ...] = ("internal",)
    ) -> dict[str, Any]:
        """The credential for the service's creation options, as a browser sends it."""
        public_key = json.loads(json.dumps(options))
        public_key["challenge"] = base64url_to_bytes(public_key["challenge"])
        public_key["user"]["id"] = base64url_to_bytes(public_key["user"]["id"])
        for descriptor in public_key.get("excludeCredentials", []):
            descriptor["id"] = base64url_to_bytes(descriptor["id"])
        made = self.create({"publicKey": public_key}, origin)
        return {
            **_ids(made["rawId"]),
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(made["response"]["clientDataJSON"]),
                "attestationObject": bytes_to_base64url(made["response"]["attestationObject"]),
                # Browsers add them; the authenticator does not know them.
                "transports": list(transports),
            },
            "clientExtensionResults": {},
        }

    def sign(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        """The assertion for the service's request options, as a browser sends it."""
        public_key = json.loads(json.dumps(options))
        public_key["challenge"] = base64url_to_bytes(public_key["challenge"])
        for descriptor in public_key.get("allowCredentials", []):
            descriptor["id"] = base64url_to_bytes(descriptor["id"])
        made = self.get({"publicKey": public_key}, origin)["response"]
        return {
            **_ids(self.credential_id or b""),
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(made["clientDataJSON"]),
                "authenticatorData": bytes_to_base64url(made["authenticatorData"]),
                "signature": bytes_to_base64url(made["signature"]),
                "userHandle": bytes_to_base64url(made["userHandle"]),
            },
            "clientExtensionResults": {},
        }


def _ids(raw_id: bytes) -> dict[str, str]:
    # py_webauthn checks that `id` is `rawId` base64url without padding.
    encoded = bytes_to_base64url(raw_id)
    return {"id": encoded, "rawId": encoded}
