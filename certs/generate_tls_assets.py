#!/usr/bin/env python3
"""Makes a development CA and ECDSA P-256 certificates for the API, PostgreSQL and Kafka.

    python certs/generate_tls_assets.py [--out certs/tls] [--san localhost --san 127.0.0.1]

For each of api, postgres and kafka: `<service>.crt`/`.key` (server), `client.crt`/`.key`
(a client certificate for mTLS) and `<service>-ca.pem` (the CA certificate to trust).

The files carry a development marker: with DEBUG=0 the service refuses to start on them.
Existing assets are kept with --if-missing and replaced only with --force: a new CA
invalidates every certificate the old one issued.
"""

import argparse
import datetime
import ipaddress
import os
import re
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
# Long enough for any development setup; far dates overflow the certificate's time fields.
MAX_DAYS = 3650
# A DNS label (RFC 1123): letters, digits and inner hyphens, 63 characters at most.
DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# X.509 caps a common name at 64 characters; a longer first SAN stays a SAN only.
COMMON_NAME_MAX = 64


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


def san_entry(text: str) -> str:
    """An argparse type: an IP address, or a DNS name (a leading `*.` wildcard allowed)."""
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    labels = text.removeprefix("*.").split(".")
    if len(text) > 253 or not all(DNS_LABEL.match(label) for label in labels):
        raise argparse.ArgumentTypeError(
            f"not an IP address or DNS name: {text!r} (letters, digits, hyphens and dots; "
            "an internationalised name in its xn-- form)"
        )
    return text


def lifetime_days(text: str) -> int:
    """An argparse type: a lifetime from 1 to MAX_DAYS days."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_DAYS}: {text!r}")
    return number


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
        common_name = sans[0] if len(sans[0]) <= COMMON_NAME_MAX else f"{service} server"
        server = _certificate(
            common_name, server_key, issuer, days, sans=sans, usage=ExtendedKeyUsageOID.SERVER_AUTH
        )
        _write(directory / f"{service}.crt", _cert_pem(server), private=False)
        _write(directory / f"{service}.key", _key_pem(server_key), private=True)
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _certificate(
            f"{service}-client", client_key, issuer, days, usage=ExtendedKeyUsageOID.CLIENT_AUTH
        )
        _write(directory / "client.crt", _cert_pem(client), private=False)
        _write(directory / "client.key", _key_pem(client_key), private=True)


def asset_paths(out: Path) -> list[Path]:
    """Every file `generate` writes under `out`."""
    paths = [out / "ca" / "ca.key", out / "ca" / "ca.pem"]
    for service in SERVICES:
        directory = out / service
        names = [
            f"{service}-ca.pem",
            f"{service}.crt",
            f"{service}.key",
            "client.crt",
            "client.key",
        ]
        paths += [directory / name for name in names]
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parent / "tls"
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out,
        help=f"the directory to write to (default: {default_out})",
    )
    parser.add_argument(
        "--san",
        action="append",
        type=san_entry,
        help="a DNS name or IP address of the servers, repeatable (default: "
        f"{' '.join(DEFAULT_SANS)})",
    )
    parser.add_argument(
        "--days",
        type=lifetime_days,
        default=365,
        help=f"how long the certificates last, 1 to {MAX_DAYS} (default: %(default)s)",
    )
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument(
        "--if-missing", action="store_true", help="keep a complete existing set and do nothing"
    )
    existing.add_argument(
        "--force",
        action="store_true",
        help="replace existing assets: with a new CA, every certificate the old one issued "
        "stops being trusted",
    )
    args = parser.parse_args()
    paths = asset_paths(args.out)
    found = [path for path in paths if path.exists()]
    if found and not args.force:
        if args.if_missing and len(found) == len(paths):
            print(f"Kept the development TLS assets under {args.out}")
            return 0
        state = (
            "holds development TLS assets" if len(found) == len(paths) else "holds part of a set"
        )
        parser.exit(
            1,
            f"{parser.prog}: error: {args.out} {state} ({found[0]}); replacing the CA "
            "invalidates every certificate it issued: pass --force to replace them\n",
        )
    sans = args.san or DEFAULT_SANS
    try:
        generate(args.out, sans, args.days)
    except OSError as exc:
        parser.exit(1, f"{parser.prog}: error: cannot write under {args.out}: {exc}\n")
    print(
        f"Wrote a development CA and certificates for {', '.join(SERVICES)} under {args.out} "
        f"(SANs {', '.join(sans)}; valid {args.days} days)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
