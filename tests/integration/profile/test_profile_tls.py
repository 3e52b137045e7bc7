"""wss:// under both profiles (issue point 6), against TLS servers on 127.0.0.1.

A device never checks the host name and accepts a self-signed certificate;
with ``skipServerCertVerification`` it also accepts an untrusted issuer and an
expired certificate. ``seed`` verifies everything unless told to skip.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ohws_jupyter import BusinessError, createWebSocket
from tests.helpers import Recorder, echo_handler, running_server, wait_until
from tests.helpers.profile_peers import TIMEOUT, using

pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed, no warning shown yet
PAST = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(tmp_path: Any, ca: trustme.CA) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _context(cert_pem: bytes, key_pem: bytes, tmp_path: Any) -> ssl.SSLContext:
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _leaf(ca: trustme.CA, tmp_path: Any, host: str = "127.0.0.1", **kw: Any) -> ssl.SSLContext:
    leaf = ca.issue_cert(host, **kw)
    return _context(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(), tmp_path)


def _self_signed(tmp_path: Any, expired: bool = False) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (
        (now - datetime.timedelta(days=10), PAST)
        if expired
        else (now, now + datetime.timedelta(days=1))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    return _context(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        tmp_path,
    )


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Any]:
    """``served(ctx)`` starts an echo server with that TLS context; returns its wss URL."""
    servers: list[Any] = []

    def start(ctx: ssl.SSLContext) -> str:
        manager = running_server(echo_handler, ssl=ctx)
        server = manager.__enter__()
        servers.append(manager)
        return f"wss://127.0.0.1:{server.port}"

    yield start
    for manager in servers:
        manager.__exit__(None, None, None)


def _outcome(url: str, options: dict | None = None) -> str:
    """'open' if an echo works over it, else the error's verify message."""
    ws = createWebSocket()
    rec = Recorder(ws)
    try:
        ws.connect(url, options).result(15)
    except BusinessError as err:
        assert err.code == 200
        rec.wait("error")
        return err.message
    # Resolved: it opened, or (device) the TLS failure comes in 'error' alone.
    wait_until(lambda: bool(rec.of("open") or rec.of("error")), 15, "'open' or 'error'")
    if rec.of("error"):
        (err,) = rec.values("error")
        assert (err.code, err.data) == (200, "0")
        assert rec.of("close") == []
        return err.message
    ws.send("over tls").result(TIMEOUT)
    rec.wait("dataEnd")
    assert rec.values("message") == ["over tls"]
    ws.close({"reason": "done"}).result(TIMEOUT)
    return "open"


# (what the server presents, options, seed outcome, device outcome); an outcome other than
# "open" is a piece of the error message.
CASES = {
    "self-signed": (lambda ca, tmp: _self_signed(tmp), {}, "self-signed certificate", "open"),
    "wrong host": (
        lambda ca, tmp: _leaf(ca, tmp, "other.test"),
        {"caPath": True},
        "IP address mismatch",
        "open",
    ),
    "untrusted issuer": (
        lambda ca, tmp: _leaf(ca, tmp),
        {},
        "unable to get local issuer certificate",
        "unable to get local issuer certificate",
    ),
    "untrusted issuer, skipped": (
        lambda ca, tmp: _leaf(ca, tmp),
        {"skipServerCertVerification": True},
        "open",
        "open",
    ),
    "expired": (
        lambda ca, tmp: _leaf(ca, tmp, not_after=PAST),
        {"caPath": True},
        "certificate has expired",
        "certificate has expired",
    ),
    "expired, skipped": (
        lambda ca, tmp: _leaf(ca, tmp, not_after=PAST),
        {"caPath": True, "skipServerCertVerification": True},
        "open",
        "open",
    ),
    "self-signed and expired": (
        lambda ca, tmp: _self_signed(tmp, expired=True),
        {},
        "self-signed certificate",
        "certificate has expired",
    ),
    "self-signed and expired, skipped": (
        lambda ca, tmp: _self_signed(tmp, expired=True),
        {"skipServerCertVerification": True},
        "open",
        "open",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", ["seed", "device"])
def test_certificates(
    name: str, case: str, ca: trustme.CA, ca_file: str, tmp_path: Any, served: Any
) -> None:
    make, options, seed, device = CASES[case]
    url = served(make(ca, tmp_path))
    options = {k: (ca_file if k == "caPath" else v) for k, v in options.items()}
    expected = seed if name == "seed" else device
    with using(name):
        got = _outcome(url, options)
    if expected == "open":
        assert got == "open"
    else:
        assert expected in got


def test_device_origin_over_tls_is_https(ca_file: str, ca: trustme.CA, tmp_path: Any) -> None:
    seen: list[str] = []

    async def handler(conn: Any) -> None:
        seen.append(conn.request.headers.get("Origin"))
        await echo_handler(conn)

    with running_server(handler, ssl=_leaf(ca, tmp_path)) as server, using("device"):
        ws = createWebSocket()
        ws.connect(f"wss://127.0.0.1:{server.port}", {"caPath": ca_file}).result(15)
        ws.close({"reason": "done"}).result(TIMEOUT)
    assert seen == ["https://127.0.0.1"]
