"""The lessons' helpers on their own (no network, no kernel): predictions, exercises,
and certificates checked by hand."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ohws_jupyter.lessons import Lesson
from tests.helpers import ROOT


def stub(x: int) -> int:
    raise NotImplementedError


def double(x: int) -> int:
    return 2 * x


def wrong(x: int) -> int:
    return x


def doubles_two(fn) -> None:
    assert fn(2) == 4, f"fn(2) should be 4, not {fn(2)}"


def test_reveal_prints_and_never_fails(capsys: pytest.CaptureFixture[str]) -> None:
    lesson = Lesson("x")
    lesson.reveal("a", None, 3)
    lesson.reveal("b", 3, 3, why="because")
    lesson.reveal("c", 2, 3)
    assert capsys.readouterr().out.splitlines() == [
        "a: observed 3 (no prediction written)",
        "b: ✓ you predicted 3: right",
        "  why: because",
        "c: ✗ you predicted 2; observed 3",
    ]


def test_check_uses_the_reference_while_the_stub_is_there(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lesson = Lesson("x", goals=["double a number"])
    assert lesson.check("double", stub, double, doubles_two) is double  # the reference, for now
    assert "not done yet (the reference answer passes" in capsys.readouterr().out
    assert lesson.check("double again", double, stub, doubles_two) is double  # yours
    assert capsys.readouterr().out == "double again: ✓ your answer passes every check\n"
    with pytest.raises(AssertionError, match="fn\\(2\\) should be 4, not 2"):
        lesson.check("wrong", wrong, double, doubles_two)
    assert "wrong: ✗ not yet: fn(2) should be 4, not 2" in capsys.readouterr().out
    with pytest.raises(AssertionError):  # a broken reference answer is a bug in the lesson
        lesson.check("broken", stub, wrong, doubles_two)
    lesson.reveal("p", 1, 1)
    capsys.readouterr()
    lesson.checkpoint({"why?": "  because\n it is  ", "how?": ""})
    assert capsys.readouterr().out.splitlines() == [
        "checkpoint of x",
        "  goal: double a number",
        "  exercise   double: not done",
        "  exercise   double again: passed",
        "  exercise   wrong: wrong",
        "  prediction p: right",
        "  answer     why?: because it is",
        "  answer     how?: (no answer yet)",
        "  2 of 4 exercises and predictions done and right",
    ]


def test_check_async_awaits_the_test(capsys: pytest.CaptureFixture[str]) -> None:
    async def check(fn) -> None:
        await asyncio.sleep(0)
        assert fn(1) == 2

    lesson = Lesson("x")
    asyncio.run(lesson.check_async("async", stub, double, check))
    asyncio.run(lesson.check_async("sync test", double, stub, doubles_two))
    out = capsys.readouterr().out
    assert "async: not done yet" in out and "sync test: ✓" in out


# -- certificates, checked by hand -------------------------------------------------------
CERTS = ROOT / "notebooks" / "certs"


def _pem(name: str) -> str:
    return (CERTS / name).read_text()


def test_verify_certificate_answers_as_a_tls_client_on_the_lesson_files() -> None:
    from ohws_jupyter.lessons import CertificateError, read_certificate, verify_certificate

    server, ca, impostor = _pem("lesson-server.pem"), _pem("lesson-ca.pem"), _pem("impostor.pem")
    cert = read_certificate(server)
    assert (cert.subject, cert.issuer) == ("127.0.0.1", read_certificate(ca).subject)
    assert cert.names == ("127.0.0.1", "localhost") and not cert.is_ca
    assert read_certificate(ca).is_ca
    checks = verify_certificate(server, [ca], "127.0.0.1")
    assert len(checks) == 3 and "verifies with its key" in checks[0]
    assert verify_certificate(server, [impostor, ca], "localhost")[2].startswith("names the host")
    failures = {
        "unable to get local issuer certificate": (server, [], "127.0.0.1"),
        "self-signed certificate": (impostor, [ca], "127.0.0.1"),
        "hostname mismatch": (server, [ca], "example.com"),
    }
    for message, args in failures.items():
        with pytest.raises(CertificateError, match=message):
            verify_certificate(*args)
    import datetime

    utc = datetime.timezone.utc
    with pytest.raises(CertificateError, match="has expired"):
        verify_certificate(server, [ca], "127.0.0.1", datetime.datetime(2200, 1, 1, tzinfo=utc))
    with pytest.raises(CertificateError, match="not yet valid"):
        verify_certificate(server, [ca], "127.0.0.1", datetime.datetime(1999, 1, 1, tzinfo=utc))
    with pytest.raises(CertificateError, match="no '-----BEGIN CERTIFICATE-----'"):
        read_certificate(_pem("lesson-server-key.pem"))
    cut = server.replace(server.splitlines()[3] + "\n", "")  # a line of base64 missing
    with pytest.raises(CertificateError, match="not a certificate"):
        read_certificate(cut)


def _make_cert(subject: str, issuer: str, key: Any, signer: Any, *, ca: bool, names=()) -> str:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    if names:
        alt = [
            x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
            for n in names
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), False)
    cert = builder.sign(signer, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_verify_certificate_checks_the_signature_itself() -> None:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from ohws_jupyter.lessons import CertificateError, verify_certificate

    for _ in range(5):  # fresh keys each time: the curve arithmetic, not one lucky case
        ca_key, key = (
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
        )
        ca = _make_cert("Class CA", "Class CA", ca_key, ca_key, ca=True)
        server = _make_cert("srv", "Class CA", key, ca_key, ca=False, names=["*.lab.test", "::1"])
        assert len(verify_certificate(server, [ca], "a.lab.test")) == 3
        assert len(verify_certificate(server, [ca], "[::1]")) == 3
        assert len(verify_certificate(server, [ca], "0:0::1")) == 3  # the same address
        with pytest.raises(CertificateError, match="hostname mismatch"):
            verify_certificate(server, [ca], "a.b.lab.test")  # a wildcard is one label
        # The same issuer name, another key: only the signature tells them apart.
        forger = ec.generate_private_key(ec.SECP256R1())
        forged = _make_cert("srv", "Class CA", key, forger, ca=False, names=["a.lab.test"])
        with pytest.raises(CertificateError, match="certificate signature failure"):
            verify_certificate(forged, [ca], "a.lab.test")
        # Two trusted CAs of one name: each certificate is checked with the key that signed it.
        impostor_ca = _make_cert("Class CA", "Class CA", forger, forger, ca=True)
        assert len(verify_certificate(forged, [ca, impostor_ca], "a.lab.test")) == 3
        assert len(verify_certificate(server, [impostor_ca, ca], "a.lab.test")) == 3
    not_a_ca = _make_cert("Class CA", "Class CA", ca_key, ca_key, ca=False)
    with pytest.raises(CertificateError, match="invalid CA certificate"):
        verify_certificate(server, [not_a_ca], "a.lab.test")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CertificateError, match="ECDSA"):
        verify_certificate(_make_cert("r", "r", rsa_key, rsa_key, ca=True), [], "r")
