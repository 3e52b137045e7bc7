"""What the lesson notebooks use to teach: predictions, exercise checks, a checkpoint.

A lesson creates one :class:`Lesson`. A *prediction* is a value the student
writes before a cell shows what happens; :meth:`Lesson.reveal` compares it with
what was observed and never fails. An *exercise* is a function the student
writes in place of a stub that raises ``NotImplementedError``;
:meth:`Lesson.check` runs a test on it, or, while the stub is still there, on
the lesson's model answer (kept in :mod:`ohws_jupyter.lesson_answers`, out of
the student's notebook), so the notebook runs top to bottom either way and
shows no answer. :meth:`Lesson.checkpoint` prints what
a grader reads: every exercise and prediction, and the student's short answers.

:func:`verify_certificate` checks a server's certificate by hand, as a TLS
client does before it trusts a ``wss://`` server: for the security lesson in a
browser, where a page can neither serve TLS nor give its WebSocket a CA.

Nothing here touches the network.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import inspect
import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import lesson_answers

__all__ = [
    "Certificate",
    "CertificateError",
    "Lesson",
    "read_certificate",
    "same_meaning",
    "verify_certificate",
]


@dataclass
class _Result:
    kind: str  # "exercise" or "prediction"
    name: str
    outcome: str  # exercise: passed / not done / wrong; prediction: right / wrong / none
    detail: str = ""


@dataclass
class Lesson:
    """One lesson's record of predictions and exercises.

    Attributes:
        name: The lesson's name, e.g. ``'00-on-the-wire'``; exercises find their
            model answers in :mod:`ohws_jupyter.lesson_answers` under it.
        goals: What the student can do after it.
        teacher: Show what was observed even where no prediction was written
            (a teacher running the notebook before class). Off by default, or
            on when the environment variable ``OHWS_TEACHER`` is ``1``.
    """

    name: str
    goals: list[str] = field(default_factory=list)
    teacher: bool = field(default_factory=lambda: os.environ.get("OHWS_TEACHER", "") == "1")
    _results: dict[tuple[str, str], _Result] = field(default_factory=dict, repr=False)

    def reveal(self, name: str, prediction: Any, observed: Any, why: str = "") -> None:
        """Print the prediction next to what was observed, and why it is so.

        A prediction is judged by its meaning, not its spelling: texts match
        whatever their case, spacing, quotes and final full stop (``"It is
        refused."`` is ``"it is refused"``), numbers match whatever their type
        (``"1009"``, ``1009`` and ``1009.0``), and lists and tuples match item
        by item. Where no prediction was written, neither the observed value nor
        the reason is shown (unless :attr:`teacher`): predict first, then look.
        """
        if prediction is None:
            outcome = "none"
            if self.teacher:
                line = f"observed {observed!r} (no prediction written)"
            else:
                line = "no prediction written: fill it in above and run this cell again to compare"
                why = ""
        elif same_meaning(prediction, observed):
            outcome, line = "right", f"✓ you predicted {prediction!r}: right"
        else:
            outcome, line = "wrong", f"✗ you predicted {prediction!r}; observed {observed!r}"
        self._results[("prediction", name)] = _Result("prediction", name, outcome)
        print(f"{name}: {line}")
        if why:
            print(f"  why: {why}")

    def check(
        self,
        name: str,
        yours: Callable[..., Any],
        test: Callable[[Callable[..., Any]], Any],
        reference: Callable[..., Any] | None = None,
    ) -> Callable[..., Any]:
        """Run ``test(yours)``; while ``yours`` is the stub, ``test(reference)`` instead.

        ``reference`` defaults to the model answer kept for this lesson's
        exercise ``name`` in :mod:`ohws_jupyter.lesson_answers`, outside the
        notebook. ``test`` raises ``AssertionError`` with a helpful message when
        an answer is wrong. A wrong answer of the student's is reported and
        raised again, so the cell shows it.

        Returns:
            The function the rest of the lesson uses: ``yours`` once it passes,
            the reference answer until then.
        """
        model = reference if reference is not None else lesson_answers.reference(self.name, name)
        outcome = self._run(yours, model, test)
        self._finish(name, outcome)
        return model if outcome[0] == "not done" else yours

    async def check_async(
        self,
        name: str,
        yours: Callable[..., Any],
        test: Callable[[Callable[..., Any]], Any],
        reference: Callable[..., Any] | None = None,
    ) -> Callable[..., Any]:
        """:meth:`check` for a ``test`` that is a coroutine function (it talks to a server)."""
        model = reference if reference is not None else lesson_answers.reference(self.name, name)
        outcome = await self._run_async(yours, model, test)
        self._finish(name, outcome)
        return model if outcome[0] == "not done" else yours

    def _run(self, yours: Any, reference: Any, test: Any) -> tuple[str, BaseException | None]:
        try:
            test(yours)
        except NotImplementedError:
            test(reference)  # the lesson's own answer must pass: a failure is a bug
            return "not done", None
        except AssertionError as exc:
            return "wrong", exc
        return "passed", None

    async def _run_async(
        self, yours: Any, reference: Any, test: Any
    ) -> tuple[str, BaseException | None]:
        try:
            await _maybe_await(test(yours))
        except NotImplementedError:
            await _maybe_await(test(reference))
            return "not done", None
        except AssertionError as exc:
            return "wrong", exc
        return "passed", None

    def _finish(self, name: str, result: tuple[str, BaseException | None]) -> None:
        outcome, exc = result
        self._results[("exercise", name)] = _Result("exercise", name, outcome, str(exc or ""))
        if outcome == "passed":
            print(f"{name}: ✓ your answer passes every check")
        elif outcome == "not done":
            print(
                f"{name}: not done yet (the reference answer passes, and stays hidden; "
                "replace the stub's `raise NotImplementedError` with your code and run "
                "the cells again)"
            )
        else:
            print(f"{name}: ✗ not yet: {exc}")
            assert exc is not None
            raise exc

    def checkpoint(self, answers: dict[str, str] | None = None) -> None:
        """Print the lesson's results and the student's answers, for a grader."""
        print(f"checkpoint of {self.name}")
        for goal in self.goals:
            print(f"  goal: {goal}")
        for result in self._results.values():
            print(f"  {result.kind:<10} {result.name}: {result.outcome}")
        for question, answer in (answers or {}).items():
            text = " ".join(str(answer).split()) or "(no answer yet)"
            print(f"  answer     {question}: {text}")
        done = sum(1 for r in self._results.values() if r.outcome in ("passed", "right"))
        print(f"  {done} of {len(self._results)} exercises and predictions done and right")


def same_meaning(prediction: Any, observed: Any) -> bool:
    """Whether a prediction says what was observed: see :meth:`Lesson.reveal`."""
    if isinstance(prediction, (list, tuple)) and isinstance(observed, (list, tuple)):
        return len(prediction) == len(observed) and all(
            same_meaning(p, o) for p, o in zip(prediction, observed, strict=True)
        )
    if isinstance(prediction, bool) or isinstance(observed, bool):
        return prediction is observed  # True is not 1 as a prediction
    number_p, number_o = _number(prediction), _number(observed)
    if number_p is not None and number_o is not None:
        return number_p == number_o
    if isinstance(prediction, str) and isinstance(observed, str):
        return _words(prediction) == _words(observed)
    return bool(prediction == observed)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value.strip().replace(",", "").replace("_", ""))
    return None


def _words(text: str) -> str:
    return " ".join(text.casefold().strip().strip("\"'`.!").split())


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


# -- certificates, checked by hand -------------------------------------------------------
class CertificateError(ValueError):
    """A certificate check failed; the message says which, in the words of OpenSSL."""


@dataclass(frozen=True)
class Certificate:
    """What a TLS client reads in an X.509 certificate (ECDSA P-256 keys only).

    Attributes:
        subject: Whom it is for (its common name).
        issuer: Who signed it (the issuer's common name).
        names: The hosts it is valid for (subjectAltName: DNS names and IP addresses).
        not_before: The start of its validity.
        not_after: The end of its validity.
        is_ca: Whether it may sign other certificates (basicConstraints).
    """

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    is_ca: bool
    _subject_der: bytes = field(repr=False)
    _issuer_der: bytes = field(repr=False)
    _signed: bytes = field(repr=False)  # the part the signature covers (tbsCertificate)
    _signature: tuple[int, int] = field(repr=False)
    _key: tuple[int, int] = field(repr=False)


def read_certificate(pem: str) -> Certificate:
    """The first certificate in a PEM text.

    Raises:
        CertificateError: It is not a certificate, or its key is not ECDSA P-256.
    """
    blocks = _pem_blocks(pem)
    if not blocks:
        raise CertificateError("no '-----BEGIN CERTIFICATE-----' block in the text")
    return _parse(blocks[0])


def verify_certificate(
    pem: str, trusted: Sequence[str], host: str, now: datetime.datetime | None = None
) -> list[str]:
    """Check a server's certificate as a TLS client does; the checks it passed, in words.

    The three questions a client with ``caPath`` asks before it trusts a server:
    was the certificate signed by a CA it trusts (the signature verifies with
    that CA's key), is it valid now, and does it name the host it dialled.

    Args:
        pem: The server's certificate.
        trusted: The CAs the client trusts (PEM texts, as in ``caPath``).
        host: The host in the URL the client dials.
        now: The time to check the validity at (default: now).

    Raises:
        CertificateError: The first check that fails.
    """
    cert = read_certificate(pem)
    cas = [_parse(block) for text in trusted for block in _pem_blocks(text)]
    issuers = [ca for ca in cas if ca._subject_der == cert._issuer_der]
    if not issuers:
        if cert._issuer_der == cert._subject_der:
            raise CertificateError(
                f"self-signed certificate: {cert.subject!r} signed itself, and it is not "
                "a CA you trust"
            )
        raise CertificateError(
            f"unable to get local issuer certificate: {cert.issuer!r} signed it, and it is "
            "not a CA you trust"
        )
    issuers = [ca for ca in issuers if ca.is_ca]
    if not issuers:
        raise CertificateError(f"invalid CA certificate: {cert.issuer!r} may not sign others")
    digest = hashlib.sha256(cert._signed).digest()
    # Names can be copied; only the signature shows which key signed.
    ca = next((ca for ca in issuers if _ecdsa_verifies(ca._key, digest, *cert._signature)), None)
    if ca is None:
        raise CertificateError(
            f"certificate signature failure: the signature does not verify with the key "
            f"of {cert.issuer!r}"
        )
    checks = [
        f"signed by {ca.subject!r}, a CA you trust: the signature (ECDSA P-256, SHA-256) "
        "verifies with its key"
    ]
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    if moment < cert.not_before:
        raise CertificateError(f"certificate is not yet valid: from {cert.not_before:%Y-%m-%d}")
    if moment > cert.not_after:
        raise CertificateError(f"certificate has expired: on {cert.not_after:%Y-%m-%d}")
    checks.append(f"valid now: from {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}")
    if not _names_host(cert.names, host):
        raise CertificateError(
            f"hostname mismatch: it is for {', '.join(cert.names) or 'no host'}, not {host!r}"
        )
    checks.append(f"names the host you dial: {host!r} is among {', '.join(cert.names)}")
    return checks


def _pem_blocks(text: str) -> list[bytes]:
    found = re.findall(
        r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, flags=re.S
    )
    try:
        return [base64.b64decode("".join(block.split())) for block in found]
    except ValueError as exc:  # binascii.Error
        raise CertificateError(f"not a certificate: its base64 is broken ({exc})") from exc


# DER (X.690): every element is a tag, a length and a value.
def _element(data: bytes, at: int = 0) -> tuple[int, bytes, int]:
    """The tag and the value of the element at ``at``, and where it ends."""
    if at + 2 > len(data):
        raise CertificateError("not a certificate: the DER encoding is cut short")
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        length, at = int.from_bytes(data[at : at + count], "big"), at + count
    if at + length > len(data):
        raise CertificateError("not a certificate: the DER encoding is cut short")
    return tag, data[at : at + length], at + length


def _children(value: bytes) -> list[tuple[int, bytes, bytes]]:
    """The elements inside a constructed value: (tag, value, whole encoding)."""
    out, at = [], 0
    while at < len(value):
        tag, inner, end = _element(value, at)
        out.append((tag, inner, value[at:end]))
        at = end
    return out


_OID_COMMON_NAME = bytes.fromhex("550403")  # 2.5.4.3
_OID_SUBJECT_ALT_NAME = bytes.fromhex("551d11")  # 2.5.29.17
_OID_BASIC_CONSTRAINTS = bytes.fromhex("551d13")  # 2.5.29.19
_OID_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1
_OID_P256 = bytes.fromhex("2a8648ce3d030107")  # 1.2.840.10045.3.1.7
_OID_ECDSA_SHA256 = bytes.fromhex("2a8648ce3d040302")  # 1.2.840.10045.4.3.2


def _parse(der: bytes) -> Certificate:
    try:
        return _parse_der(der)
    except CertificateError:
        raise
    except (IndexError, ValueError) as exc:  # a field missing or of the wrong kind
        raise CertificateError(f"not a certificate that can be read here: {exc}") from exc


def _parse_der(der: bytes) -> Certificate:
    tag, body, _ = _element(der)
    parts = _children(body) if tag == 0x30 else []
    if len(parts) != 3:
        raise CertificateError("not a certificate: expected tbsCertificate, algorithm, signature")
    (_, tbs, signed), (_, algorithm, _), (_, signature, _) = parts
    if _children(algorithm)[0][1] != _OID_ECDSA_SHA256:
        raise CertificateError("only certificates signed with ECDSA and SHA-256 are read here")
    fields = _children(tbs)
    if fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    issuer, validity, subject, key_info = fields[2], fields[3], fields[4], fields[5]
    extensions = {}
    for tag, value, _ in fields[6:]:
        if tag == 0xA3:  # [3] extensions
            for _, extension, _ in _children(_children(value)[0][1]):
                items = _children(extension)
                extensions[items[0][1]] = items[-1][1]  # OID -> the OCTET STRING's content
    r_s = _children(_children(signature[1:])[0][1])  # BIT STRING: unused-bits byte, then DER
    start, end = (_time(tag, value) for tag, value, _ in _children(validity[1]))
    return Certificate(
        subject=_common_name(subject[1]),
        issuer=_common_name(issuer[1]),
        names=_alt_names(extensions.get(_OID_SUBJECT_ALT_NAME)),
        not_before=start,
        not_after=end,
        is_ca=_is_ca(extensions.get(_OID_BASIC_CONSTRAINTS)),
        _subject_der=subject[2],
        _issuer_der=issuer[2],
        _signed=signed,
        _signature=(int.from_bytes(r_s[0][1], "big"), int.from_bytes(r_s[1][1], "big")),
        _key=_ec_key(key_info[1]),
    )


def _common_name(name: bytes) -> str:
    for _, rdn, _ in _children(name):
        for _, pair, _ in _children(rdn):
            oid, value = _children(pair)
            if oid[1] == _OID_COMMON_NAME:
                return value[1].decode("utf-8", "replace")
    return ""


def _time(tag: int, value: bytes) -> datetime.datetime:
    text = value.decode("ascii")
    if tag == 0x17:  # UTCTime: two-digit years, 1950-2049 (RFC 5280)
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    moment = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    return moment.replace(tzinfo=datetime.timezone.utc)


def _alt_names(extension: bytes | None) -> tuple[str, ...]:
    if extension is None:
        return ()
    names = []
    for tag, value, _ in _children(_children(extension)[0][1]):
        if tag == 0x82:  # dNSName
            names.append(value.decode("ascii"))
        elif tag == 0x87:  # iPAddress
            names.append(str(ipaddress.ip_address(value)))
    return tuple(names)


def _is_ca(extension: bytes | None) -> bool:
    if extension is None:
        return False
    items = _children(_children(extension)[0][1])
    return bool(items) and items[0][0] == 0x01 and items[0][1] != b"\x00"


def _ec_key(key_info: bytes) -> tuple[int, int]:
    algorithm, key = _children(key_info)
    oids = [value for _, value, _ in _children(algorithm[1])]
    if oids != [_OID_EC_PUBLIC_KEY, _OID_P256]:
        raise CertificateError("only certificates with an ECDSA P-256 key are read here")
    point = key[1][1:]  # BIT STRING: unused-bits byte, then the point
    if len(point) != 65 or point[0] != 4:
        raise CertificateError("only uncompressed P-256 public keys are read here")
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    if (y * y - (x * x * x - 3 * x + _B)) % _P:
        raise CertificateError("the public key is not a point of the P-256 curve")
    return x, y


def _names_host(names: Sequence[str], host: str) -> bool:
    host = host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for name in names:
        name = name.lower()
        if name == host:
            return True
        if address is not None:
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(name) == address:
                    return True
            continue  # an IP address matches IP entries only, never a wildcard
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True  # a wildcard stands for exactly one label
    return False


# ECDSA on P-256 (FIPS 186-4, SEC 1): the curve y^2 = x^3 - 3x + b over the prime field p,
# and the group of order n that the base point G generates.
_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def _add(p: tuple[int, int] | None, q: tuple[int, int] | None) -> tuple[int, int] | None:
    """Point addition (None is the point at infinity)."""
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % _P == 0:
        return None
    if p == q:
        slope = (3 * p[0] * p[0] - 3) * pow(2 * p[1], -1, _P)
    else:
        slope = (q[1] - p[1]) * pow(q[0] - p[0], -1, _P)
    x = (slope * slope - p[0] - q[0]) % _P
    return x, (slope * (p[0] - x) - p[1]) % _P


def _times(k: int, point: tuple[int, int]) -> tuple[int, int] | None:
    result: tuple[int, int] | None = None
    addend: tuple[int, int] | None = point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def _ecdsa_verifies(key: tuple[int, int], digest: bytes, r: int, s: int) -> bool:
    if not (0 < r < _N and 0 < s < _N):
        return False
    w = pow(s, -1, _N)
    z = int.from_bytes(digest, "big")  # SHA-256 is as long as n: nothing to cut
    point = _add(_times(z * w % _N, _G), _times(r * w % _N, key))
    return point is not None and point[0] % _N == r
