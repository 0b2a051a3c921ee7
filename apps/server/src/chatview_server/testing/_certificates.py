"""Throwaway TLS certificates for tests: a private CA and a server certificate it signs."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["TestCertificates", "make_test_certificates"]

# Long enough for any test run, short enough that a leaked file is soon useless.
_VALIDITY = datetime.timedelta(days=2)


@attrs.frozen
class TestCertificates:
    """PEM files written by `make_test_certificates`."""

    __test__ = False  # not a pytest test class, despite the name

    ca_cert: Path
    """The CA certificate: what a client trusts (``--ca``, ``grpc_ca_path``)."""

    cert_chain: Path
    """The server certificate followed by the CA certificate (``tls_cert``)."""

    key: Path
    """The server's private key, unencrypted (``tls_key``)."""


def make_test_certificates(directory: Path) -> TestCertificates:
    """Write a new CA and a server certificate for ``localhost`` and ``127.0.0.1``.

    The chain file holds the CA too, so a client given only ``cert_chain`` as its
    trusted roots (as `ServerProcess`'s health check does) also accepts it.

    Args:
        directory: an existing folder; ``ca.pem``, ``server-chain.pem`` and
            ``server-key.pem`` are written in it.

    Returns:
        The paths of the three files.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ChatView test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
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
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    files = TestCertificates(
        ca_cert=directory / "ca.pem",
        cert_chain=directory / "server-chain.pem",
        key=directory / "server-key.pem",
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    files.ca_cert.write_bytes(ca_pem)
    files.cert_chain.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    files.key.touch(mode=0o600)
    files.key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
