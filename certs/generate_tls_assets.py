#!/usr/bin/env python3
"""Makes a development CA and ECDSA P-256 certificates for the API, PostgreSQL and Kafka.

    python certs/generate_tls_assets.py [--out certs/tls] [--san localhost --san 127.0.0.1]

For each of api, postgres and kafka: `<service>.crt`/`.key` (server), `client.crt`/`.key`
(a client certificate for mTLS) and `<service>-ca.pem` (the CA certificate to trust).

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

DEFAULT_SANS = ["localhost", "127.0.0.1", "::1", "api", "postgres", "kafka"]
SERVICES = ("api", "postgres", "kafka")


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


def _certificate(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    days: int,
    *,
    sans: list[str] | None = None,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = _name(common_name)
    # No issuer: a self-signed CA.
    is_ca = issuer is None
    issuer_name, issuer_key = issuer or (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
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
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(s) for s in sans]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def generate(out: Path, sans: list[str], days: int) -> None:
    """One CA; for each service a server certificate, and a client certificate for mTLS."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("restapi development CA", ca_key, None, days)
    issuer = (ca_cert.subject, ca_key)
    # The CA key stays with the CA and nowhere else; no service needs it.
    _write(out / "ca" / "ca.key", _key_pem(ca_key), private=True)
    _write(out / "ca" / "ca.pem", _cert_pem(ca_cert), private=False)
    for service in SERVICES:
        directory = out / service
        _write(directory / f"{service}-ca.pem", _cert_pem(ca_cert), private=False)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = _certificate(
            sans[0], server_key, issuer, days, sans=sans, usage=ExtendedKeyUsageOID.SERVER_AUTH
        )
        _write(directory / f"{service}.crt", _cert_pem(server), private=False)
        _write(directory / f"{service}.key", _key_pem(server_key), private=True)
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _certificate(
            f"{service}-client", client_key, issuer, days, usage=ExtendedKeyUsageOID.CLIENT_AUTH
        )
        _write(directory / "client.crt", _cert_pem(client), private=False)
        _write(directory / "client.key", _key_pem(client_key), private=True)


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
