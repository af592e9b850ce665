"""A small private PKI for one englog deployment, as `cockroach cert create-ca /
create-node / create-client` makes one: a CA, a server certificate for the names and
addresses workers dial, and a worker client certificate for mutual TLS. ECDSA P-256
keys, written as PEM with the keys readable by their owner only."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from englog.errors import EnglogError
from englog.private_files import private_dir, write_private

Key = ec.EllipticCurvePrivateKey
DEFAULT_HOSTS = ("localhost", "127.0.0.1")
CA_DAYS = 3650
LEAF_DAYS = 825  # the longest validity common TLS clients accept for a leaf
# Dot-separated labels of letters, digits and inner hyphens; a leading `*.` wildcard.
_DNS_NAME = re.compile(r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # fmt: skip
FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "worker.crt", "worker.key")


class CertError(EnglogError):
    """The certificates could not be made (a bad host, a file in the way)."""


@dataclass(frozen=True, slots=True)
class Pki:
    """Paths of what `init` wrote."""

    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    worker_cert: Path
    worker_key: Path


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject: x509.Name, issuer: x509.Name, key: Key, days: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate clock skew
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )


def make_ca(org: str, days: int = CA_DAYS) -> tuple[x509.Certificate, Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"{org} CA", org)
    cert = (
        _builder(name, name, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign_certs=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    common_name: str,
    ca: tuple[x509.Certificate, Key],
    usage: x509.ObjectIdentifier,
    days: int = LEAF_DAYS,
    sans: Sequence[x509.GeneralName] = (),
) -> tuple[x509.Certificate, Key]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    org = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    builder = (
        _builder(_name(common_name, str(org)), ca_cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def subject_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses, each as what it is."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        host = host.strip()
        if not host:
            raise CertError("a --host must not be empty")
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        if not _DNS_NAME.fullmatch(host):
            raise CertError(f"--host {host!r} is neither an IP address nor a DNS name")
        names.append(x509.DNSName(host))
    return names


def _write(path: Path, data: bytes, private: bool) -> None:
    """A new file each time, never through a symlink: what was at `path` (an old key
    at 0644, a symlink placed at ca.key) is removed, then the file is created
    exclusively, keys 0600, certificates 0644."""
    if private:
        write_private(path, data)
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def init(
    directory: Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    *,
    org: str = "englog",
    days: int = LEAF_DAYS,
    force: bool = False,
) -> Pki:
    """Write a CA, a server certificate for `hosts` and a worker client certificate in
    `directory`. Existing files are kept (CertError) unless `force`."""
    if days < 1:
        raise CertError("--days must be at least 1")
    sans = subject_names(hosts or DEFAULT_HOSTS)
    paths = [directory / name for name in FILES]
    taken = [p.name for p in paths if p.exists() or p.is_symlink()]
    if taken and not force:
        raise CertError(f"{directory} already holds {', '.join(taken)}; use --force to replace")
    try:
        private_dir(directory)
    except OSError as exc:
        raise CertError(f"cannot create {directory}: {exc.strerror}") from exc
    ca = make_ca(org, max(days, CA_DAYS))
    server = make_leaf(
        str(hosts[0] if hosts else DEFAULT_HOSTS[0]),
        ca,
        ExtendedKeyUsageOID.SERVER_AUTH,
        days,
        sans,
    )
    worker = make_leaf(f"{org}-worker", ca, ExtendedKeyUsageOID.CLIENT_AUTH, days)
    try:
        for (cert, key), stem in ((ca, "ca"), (server, "server"), (worker, "worker")):
            _write(directory / f"{stem}.crt", _pem(cert), private=False)
            _write(directory / f"{stem}.key", _key_pem(key), private=True)
    except OSError as exc:
        raise CertError(f"cannot write in {directory}: {exc.strerror}") from exc
    return Pki(*paths)
