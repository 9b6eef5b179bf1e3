"""certs/generate_tls_assets.py: what it makes, and where the CA's key goes."""

import ipaddress
import stat
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.conftest import BASE_DIR

SCRIPT = BASE_DIR / "certs" / "generate_tls_assets.py"


def generate(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], check=True, capture_output=True, text=True
    )


def load_certificate(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_ca_and_p256_server_and_client_certificates_for_each_service(tmp_path):
    generate("--out", tmp_path, "--san", "api.example.com", "--san", "10.0.0.7", "--days", "30")
    ca = load_certificate(tmp_path / "ca" / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for service in ("api", "postgres", "kafka"):
        directory = tmp_path / service
        assert (directory / f"{service}-ca.pem").read_bytes() == (
            tmp_path / "ca" / "ca.pem"
        ).read_bytes()
        server = load_certificate(directory / f"{service}.crt")
        client = load_certificate(directory / "client.crt")
        for certificate, usage in (
            (server, ExtendedKeyUsageOID.SERVER_AUTH),
            (client, ExtendedKeyUsageOID.CLIENT_AUTH),
        ):
            certificate.verify_directly_issued_by(ca)
            assert isinstance(certificate.public_key().curve, ec.SECP256R1)
            assert (
                usage in certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            )
            lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
            assert 29 <= lifetime.days <= 31
        names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["api.example.com"]
        assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]


def test_keys_are_private_and_the_ca_key_stays_in_ca(tmp_path):
    generate("--out", tmp_path)
    keys = sorted(tmp_path.rglob("*.key"))
    assert len(keys) == 7  # the CA's, and a server and a client key per service
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert isinstance(key.curve, ec.SECP256R1)
    ca_key = (tmp_path / "ca" / "ca.key").read_bytes().split(b"\n", 1)[1]
    outside_ca = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "ca"]
    assert outside_ca and not [p for p in outside_ca if ca_key in p.read_bytes()]


def test_if_missing_keeps_existing_assets(tmp_path):
    generate("--out", tmp_path)
    before = (tmp_path / "api" / "api.key").read_bytes()
    generate("--out", tmp_path, "--if-missing")
    assert (tmp_path / "api" / "api.key").read_bytes() == before
    generate("--out", tmp_path)
    assert (tmp_path / "api" / "api.key").read_bytes() != before
