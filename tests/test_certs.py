"""certs/generate_tls_assets.py: what it makes, and where the CA's key goes."""

import ipaddress
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.helpers import BASE_DIR

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


def run(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, check=False
    )


def test_existing_assets_are_kept_with_if_missing_and_replaced_only_with_force(tmp_path):
    generate("--out", tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    kept = generate("--out", tmp_path, "--if-missing")
    assert kept.stdout == f"Kept the development TLS assets under {tmp_path}\n"
    # Without a flag, a new CA would silently invalidate every certificate of the old one.
    refused = run("--out", tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"generate_tls_assets.py: error: {tmp_path} holds development TLS assets "
        f"({tmp_path / 'ca' / 'ca.key'}); replacing the CA invalidates every certificate it "
        "issued: pass --force to replace them"
    ]
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    generate("--out", tmp_path, "--force")
    assert (tmp_path / "ca" / "ca.pem").read_bytes() != before[tmp_path / "ca" / "ca.pem"]
    assert "not allowed with argument" in run("--out", tmp_path, "--if-missing", "--force").stderr


def test_an_incomplete_set_is_not_taken_for_a_whole_one(tmp_path):
    generate("--out", tmp_path)
    (tmp_path / "kafka" / "client.key").unlink()
    refused = run("--out", tmp_path, "--if-missing")
    assert refused.returncode == 1 and "holds part of a set" in refused.stderr
    assert not (tmp_path / "kafka" / "client.key").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--san", "bad name!!"], "argument --san: not an IP address or DNS name: 'bad name!!'"),
        (["--san", ""], "argument --san: not an IP address or DNS name: ''"),
        (["--san=-leading-hyphen.example"], "not an IP address or DNS name"),
        (["--san", "a..b"], "not an IP address or DNS name"),
        (["--san", "x" * 64 + ".example"], "not an IP address or DNS name"),
        (["--san", "b\u00fccher.de"], "in its xn-- form"),
        (["--days", "-5"], "argument --days: must be a whole number from 1 to 3650: '-5'"),
        (["--days", "0"], "from 1 to 3650"),
        (["--days", "100000"], "from 1 to 3650"),
        (["--days", "soon"], "from 1 to 3650"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, args, message):
    refused = run("--out", tmp_path / "tls", *args)
    assert refused.returncode == 2
    assert message in refused.stderr.splitlines()[-1]
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "tls").exists()


def test_an_unwritable_out_is_one_line(tmp_path):
    # Under a file: refused even for root, who may write anywhere else.
    blocker = tmp_path / "file"
    blocker.write_text("")
    refused = run("--out", blocker / "tls")
    assert refused.returncode == 1
    line = f"generate_tls_assets.py: error: cannot write under {blocker / 'tls'}: [Errno 20]"
    assert len(refused.stderr.splitlines()) == 1 and refused.stderr.startswith(line)


def test_wildcards_ip_v6_and_long_names_are_accepted(tmp_path):
    long_name = "a" * 63 + "." + "b" * 10 + ".example"
    done = generate(
        "--out", tmp_path, "--san", long_name, "--san", "*.example.com", "--san", "fe80::1"
    )
    assert done.stdout.startswith(
        f"Wrote a development CA and certificates for api, postgres, kafka under {tmp_path}"
    )
    server = load_certificate(tmp_path / "api" / "api.crt")
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [long_name, "*.example.com"]
    # A common name holds 64 characters at most; the long name stays in the SANs.
    assert server.subject.rfc4514_string() == "CN=api server,O=restapi development"
