"""Make the lesson certificates again: a CA, two server certificates it signs, an impostor.

Run from this folder with the ``cryptography`` package installed. The CA's
key is not kept, so nobody can sign more certificates with the lesson CA. The
servers' and the impostor's keys are kept, next to their certificates: they
are public, for lessons on 127.0.0.1 only, and protect nothing.

- ``lesson-server.pem``: for 127.0.0.1 and localhost, signed by the lesson CA;
- ``other-host.pem``: for ``app.example`` only, signed by the same CA, as
  another site's genuine certificate would be; served from 127.0.0.1 it shows
  what a client that skips the host-name check accepts;
- ``impostor.pem``: for 127.0.0.1 and localhost, self-signed.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
# Valid from long ago to far ahead, so that no machine's clock breaks a lesson.
START = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
END = datetime.datetime(2125, 1, 1, tzinfo=datetime.timezone.utc)
CA_NAME = "ohws_jupyter lesson CA (public, for lessons only)"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: str, data: bytes) -> None:
    (HERE / path).write_bytes(data)


def _key(path: str | None) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    if path is not None:
        _write(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    return key


def _cert(path: str, cert: x509.Certificate) -> None:
    _write(path, cert.public_bytes(serialization.Encoding.PEM))


_LOCAL = (x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"))


def _leaf(
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    names: tuple[x509.GeneralName, ...] = _LOCAL,
) -> x509.Certificate:
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    # Key identifiers: Python 3.13's strict verification wants them.
    issuer_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(_name(str(names[0].value)))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(issuer_id, critical=False)
        .sign(signer, hashes.SHA256())
    )


def main() -> None:
    ca_key = _key(None)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _cert("lesson-ca.pem", ca)
    server_key = _key("lesson-server-key.pem")
    _cert("lesson-server.pem", _leaf(server_key, ca.subject, ca_key))
    other_key = _key("other-host-key.pem")
    _cert("other-host.pem", _leaf(other_key, ca.subject, ca_key, (x509.DNSName("app.example"),)))
    impostor_key = _key("impostor-key.pem")
    _cert("impostor.pem", _leaf(impostor_key, _name("127.0.0.1"), impostor_key))


if __name__ == "__main__":
    main()
