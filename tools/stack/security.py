"""The embedded stack's secrets, created once and kept under `<data dir>/security` (folder 0700,
files 0600): the password of each principal that runs the programme (`broker`, `controller`,
`provisioner`, `operator`, `health`: tools/stack/operators.py), a CA and the broker's certificate
signed by it (for SASL_SSL), and each service's and partner's SCRAM password. Nothing here is ever
logged or put on a command line; paths are, secrets are not.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.kafka_access import KafkaAccess

from .operators import BROKER, CONTROLLER, HEALTH, LEGACY, PRINCIPALS

CA_YEARS = 10
CERT_DAYS = 825


def write_secret(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, in a folder only its owner can enter."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def new_password() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SecurityStore:
    root: Path

    def ensure(self) -> SecurityStore:
        """Create what is missing (once); what exists is kept, so credentials survive restarts."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        for principal in PRINCIPALS:
            self.password_of(principal)
        if not (self.ca_cert.exists() and self.ca_key.exists()):
            self._new_ca()
        if not self.broker_keystore.exists():
            self._new_broker_certificate()
        return self

    # ---- passwords ----------------------------------------------------------------------------

    def password_path(self, name: str) -> Path:
        return self.root / "passwords" / f"{name}.password"

    def password_of(self, name: str) -> str:
        """The stored password of `name` (a principal), created on first use."""
        path = self.password_path(name)
        if not path.exists():
            write_secret(path, new_password().encode())
        return path.read_text().strip()

    def forget(self, name: str) -> None:
        self.password_path(name).unlink(missing_ok=True)

    def forget_legacy(self) -> None:
        """Drop the passwords of principals the stack no longer has (the old `admin`)."""
        for name in LEGACY:
            self.forget(name)

    @property
    def broker_password(self) -> str:
        return self.password_of(BROKER)

    @property
    def controller_password(self) -> str:
        return self.password_of(CONTROLLER)

    @property
    def health_password(self) -> str:
        return self.password_of(HEALTH)

    def access(self, principal: str, bootstrap_servers: str, *, tls: bool = False) -> KafkaAccess:
        """How a client reaches the stack's broker as `principal`, with its stored password."""
        if tls:
            return KafkaAccess(bootstrap_servers, "SASL_SSL", principal, self.password_of(principal), self.ca_cert)
        return KafkaAccess(bootstrap_servers, "SASL_PLAINTEXT", principal, self.password_of(principal))

    # ---- CA and the broker's certificate ------------------------------------------------------

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key and certificate chain in one PEM file (ssl.keystore.type=PEM)."""
        return self.root / "broker-keystore.pem"

    def _new_ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Chongqing expert service teams (embedded)"),
                x509.NameAttribute(NameOID.COMMON_NAME, "expert-teams embedded CA"),
            ]
        )
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
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
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_secret(self.ca_key, _private_pem(key))
        write_secret(self.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
        self.broker_keystore.unlink(missing_ok=True)  # signed by the old CA, if any

    def _new_broker_certificate(self) -> None:
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
        write_secret(self.broker_keystore, _private_pem(key) + chain)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
