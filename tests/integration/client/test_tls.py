"""wss:// against real TLS servers on 127.0.0.1, with certificates made in the test."""

from __future__ import annotations

import datetime
import shutil
import ssl
import subprocess

import pytest
import trustme

from ohws_jupyter import BusinessError, createWebSocket
from tests.helpers import Recorder, echo_handler, running_server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(cert: trustme.LeafCert, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    if client_ca is not None:
        client_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _wss(server) -> str:
    return f"wss://127.0.0.1:{server.port}"


def _fail(url: str, options: dict | None = None) -> BusinessError:
    ws = createWebSocket()
    rec = Recorder(ws)
    with pytest.raises(BusinessError) as info:
        ws.connect(url, options).result(15)
    rec.wait("error")
    assert info.value.code == 200
    return info.value


def _echo_once(url: str, options: dict) -> None:
    ws = createWebSocket()
    rec = Recorder(ws)
    assert ws.connect(url, options).result(15) is True
    ws.send("over tls").result(10)
    rec.wait("dataEnd")
    assert rec.values("message") == ["over tls"]
    ws.close().result(10)


def test_verified_with_ca_file(tmp_path, ca):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with running_server(echo_handler, ssl=_server_context(ca.issue_cert("127.0.0.1"))) as server:
        _echo_once(_wss(server), {"caPath": str(ca_file)})


def test_verified_with_ca_folder(tmp_path, ca):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to name a CA folder's files by hash")
    folder = tmp_path / "cas"
    folder.mkdir()
    pem = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    digest = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (folder / f"{digest}.0").write_bytes(pem.read_bytes())
    with running_server(echo_handler, ssl=_server_context(ca.issue_cert("127.0.0.1"))) as server:
        _echo_once(_wss(server), {"caPath": str(folder)})


def test_unknown_ca_is_refused_and_skip_accepts_it(ca):
    with running_server(echo_handler, ssl=_server_context(ca.issue_cert("127.0.0.1"))) as server:
        err = _fail(_wss(server))
        assert "certificate verification failed" in err.message
        assert "skipServerCertVerification" in err.message
        _echo_once(_wss(server), {"skipServerCertVerification": True})


def test_wrong_host_is_refused(tmp_path, ca):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with running_server(echo_handler, ssl=_server_context(ca.issue_cert("other.test"))) as server:
        err = _fail(_wss(server), {"caPath": str(ca_file)})
        assert "IP address mismatch" in err.message or "hostname" in err.message


def test_expired_certificate_is_refused(tmp_path, ca):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    cert = ca.issue_cert("127.0.0.1", not_after=past)
    with running_server(echo_handler, ssl=_server_context(cert)) as server:
        err = _fail(_wss(server), {"caPath": str(ca_file)})
        assert "expired" in err.message


def test_client_certificate(tmp_path, ca):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client_ca = trustme.CA()
    client = client_ca.issue_cert("client@example.test")
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    ctx = _server_context(ca.issue_cert("127.0.0.1"), client_ca=client_ca)
    with running_server(echo_handler, ssl=ctx) as server:
        options = {
            "caPath": str(ca_file),
            "clientCert": {"certPath": str(cert_file), "keyPath": str(key_file)},
        }
        _echo_once(_wss(server), options)
        _fail(_wss(server), {"caPath": str(ca_file)})  # no client certificate: refused


def test_unreadable_client_key_is_a_parameter_error(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    ws = createWebSocket()
    options = {"clientCert": {"certPath": str(bad), "keyPath": str(bad)}}
    with pytest.raises(BusinessError) as info:
        ws.connect("wss://127.0.0.1:9", options).result(5)
    assert info.value.code == 401
