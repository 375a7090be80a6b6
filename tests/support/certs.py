"""Keys and certificates the multi-host test bed makes with ``cryptography``.

``TLSFiles.make`` writes what ``dockerd --tlsverify`` and a Docker client need: a CA, one
server certificate per engine (its IP address as the subject alternative name) and one
client certificate, as ``ca.pem``/``cert.pem``/``key.pem`` in the client folder (Docker's
``DOCKER_CERT_PATH`` layout). ``ssh_keypair`` makes an Ed25519 key in OpenSSH's formats.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_DAY = datetime.timedelta(days=1)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + _DAY)
    )


@dataclass(frozen=True)
class TLSFiles:
    """Where the certificates are: ``client`` holds ca.pem, cert.pem and key.pem."""

    folder: Path
    client: Path

    @property
    def ca(self) -> Path:
        return self.client / "ca.pem"

    def server(self, address: str) -> tuple[Path, Path]:
        """The certificate and key of the engine at ``address``."""
        return self.folder / f"server-{address}.pem", self.folder / f"server-{address}-key.pem"

    @classmethod
    def make(cls, folder: Path, addresses: list[str]) -> TLSFiles:
        """A CA, a server certificate per address and a client certificate under ``folder``."""
        files = cls(folder, folder / "client")
        files.client.mkdir(parents=True, exist_ok=True)
        ca_key = _key()
        ca = (
            _builder("pk-test CA", "pk-test CA", ca_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        for address in addresses:
            key = _key()
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))])
            cert = (
                _builder(address, "pk-test CA", key)
                .add_extension(san, critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
                .sign(ca_key, hashes.SHA256())
            )
            cert_path, key_path = files.server(address)
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            key_path.write_bytes(_pem(key))
        key = _key()
        cert = (
            _builder("pk-test client", "pk-test CA", key)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256())
        )
        (files.client / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (files.client / "key.pem").write_bytes(_pem(key))
        for path in files.client.glob("key.pem"):
            path.chmod(0o600)
        return files


def ssh_keypair(private: Path) -> str:
    """Write an Ed25519 private key (OpenSSH format) to ``private``; its public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode()
