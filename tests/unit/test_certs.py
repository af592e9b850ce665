"""`englog certs init`: a CA that signs a server certificate for the given names and a
worker client certificate, keys private, nothing overwritten unless asked."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from englog.certs import CertError, init
from englog.errors import EnglogError


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_ca_signs_the_server_and_worker_certificates(tmp_path: Path) -> None:
    pki = init(tmp_path / "pki", ["englog.example.com", "10.0.0.7", "::1"])
    ca, server, worker = load(pki.ca), load(pki.server_cert), load(pki.worker_cert)
    for leaf in (server, worker):
        leaf.verify_directly_issued_by(ca)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["englog.example.com"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.7"), ipaddress.ip_address("::1")
    ]  # fmt: skip
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    usage = worker.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    for key in (pki.ca_key, pki.server_key, pki.worker_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.ca.stat().st_mode) == 0o644


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    first = init(tmp_path)
    before = first.ca.read_bytes()
    with pytest.raises(CertError, match=r"already holds ca\.crt.*--force"):
        init(tmp_path)
    assert first.ca.read_bytes() == before
    init(tmp_path, force=True)
    assert first.ca.read_bytes() != before
    assert issubclass(CertError, EnglogError)


@pytest.mark.parametrize("host", ["", "bad host!", "ünï..code"])
def test_a_bad_host_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(CertError, match="host"):
        init(tmp_path, ["localhost", host])
    assert not list(tmp_path.iterdir())


def test_keys_are_p256(tmp_path: Path) -> None:
    pki = init(tmp_path)
    assert isinstance(load(pki.server_cert).public_key(), ec.EllipticCurvePublicKey)
