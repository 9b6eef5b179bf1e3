#!/usr/bin/env python3
"""Makes a development CA and an ECDSA P-256 server certificate for the API.

    python certs/generate_tls_assets.py [--out certs/tls] [--san localhost --san 127.0.0.1]

The files carry a development marker: with DEBUG=0 the service refuses to start on them.
"""

import argparse
import datetime
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from restapi.env import DEV_ASSET_MARKER

DEFAULT_SANS = ["localhost", "127.0.0.1", "::1", "api"]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "restapi development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(entry: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(entry))
    except ValueError:
        return x509.DNSName(entry)


def _write(path: Path, pem: bytes, *, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        path.touch(mode=0o600, exist_ok=True)
        os.chmod(path, 0o600)
    path.write_bytes(f"{DEV_ASSET_MARKER}\n".encode() + pem)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate(out: Path, sans: list[str], days: int) -> None:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("restapi development CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(sans[0]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_san(s) for s in sans]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    api = out / "api"
    _write(api / "api-ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(api / "api.crt", server_cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(api / "api.key", _key_pem(server_key), private=True)
    # The CA key stays with the CA and nowhere else; the service never needs it.
    _write(out / "ca" / "ca.key", _key_pem(ca_key), private=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "tls")
    parser.add_argument("--san", action="append", help="a DNS name or IP (repeatable)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--if-missing", action="store_true", help="keep existing assets")
    args = parser.parse_args()
    if args.if_missing and (args.out / "api" / "api.crt").exists():
        return
    generate(args.out, args.san or DEFAULT_SANS, args.days)
    print(f"Wrote development TLS assets under {args.out}")


if __name__ == "__main__":
    main()
