"""Autobahn's fuzzing-server cases, with a client built on our public API.

Cases 1.* to 7.* and 10.* run in CI (about 20 s); the full suite is a soak
variant (``--soak``). kosoku, a Python packaging of Autobahn's case files,
plays the fuzzing server on 127.0.0.1.
"""

from __future__ import annotations

import collections
import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from .autobahn_client import run_suite

PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
CI_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_fuzzingserver(
    tmp_path: Path,
    cases: list[str],
    timeout: float,
    refused: dict | None = None,
    options: dict | None = None,
) -> dict[str, dict]:
    kosoku = shutil.which("kosoku")
    if kosoku is None:
        pytest.fail("kosoku is not installed; pip install -e '.[test]'")
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = _free_port()
        args = [kosoku, "-m", "fuzzingserver", f"127.0.0.1:{port}", "-o", str(tmp_path / "out")]
        for case in cases:
            args += ["-i", case]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening" in line:
            break
        proc.wait(10)
    else:
        pytest.fail(f"the fuzzing server did not start: {line}")
    try:
        count = run_suite(
            f"ws://127.0.0.1:{port}",
            agent="ohws_jupyter",
            timeout=60,
            refused=refused,
            options=options,
        )
        rest, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    report = json.loads((tmp_path / "out" / "index.json").read_text())["ohws_jupyter"]
    assert len(report) == count, rest
    return report


def _check(report: dict[str, dict]) -> None:
    behaviors = collections.Counter(r["behavior"] for r in report.values())
    closes = collections.Counter(r["behaviorClose"] for r in report.values())
    print(f"\nAutobahn: {len(report)} cases, behavior {dict(behaviors)}, close {dict(closes)}")
    failed = {
        case: (r["behavior"], r["behaviorClose"])
        for case, r in report.items()
        if r["behavior"] not in PASSING or r["behaviorClose"] not in PASSING
    }
    assert failed == {}


@pytest.mark.timeout(600)
def test_autobahn_cases_1_to_7_and_10(tmp_path):
    report = run_fuzzingserver(tmp_path, CI_CASES, timeout=300)
    assert len(report) == 247
    _check(report)


# Cases that need one echo of 8 or 16 MiB: OHOS caps a send at 5 MiB − 16 bytes,
# so our API refuses those echoes with 401 by contract and the case times out.
OVER_SEND_LIMIT = {"9.1.5", "9.1.6", "9.2.5", "9.2.6"}
# kosoku refuses the client_max_window_bits offer these compression cases make.
UNIMPLEMENTED_BY_SERVER = ("13.2.", "13.5.", "13.6.")


@pytest.mark.soak
@pytest.mark.timeout(1500)
def test_autobahn_full_suite(tmp_path):
    refused: dict[int, list] = {}
    report = run_fuzzingserver(tmp_path, ["*"], timeout=900, refused=refused)
    behaviors = collections.Counter(r["behavior"] for r in report.values())
    print(f"\nAutobahn full: {len(report)} cases, behavior {dict(behaviors)}")
    failed = {
        case
        for case, r in report.items()
        if r["behavior"] not in PASSING or r["behaviorClose"] not in PASSING
    }
    unimplemented = {c for c in failed if report[c]["behavior"] == "UNIMPLEMENTED"}
    assert all(c.startswith(UNIMPLEMENTED_BY_SERVER) for c in unimplemented)
    assert failed - unimplemented == OVER_SEND_LIMIT
    # Those four failed only because our API refused the oversized echo (401);
    # an echo that a case's close overtook is refused as 2302999, as it should be.
    assert {code for codes in refused.values() for code in codes} <= {401, 2302999}
    assert sum(401 in codes for codes in refused.values()) == len(OVER_SEND_LIMIT)


@pytest.mark.soak
@pytest.mark.timeout(1500)
def test_autobahn_full_suite_with_max_send_size_has_no_failure(tmp_path):
    # maxSendSize lifts OHOS's 5 MiB - 16 cap: the four cases above pass too.
    report = run_fuzzingserver(
        tmp_path, ["*"], timeout=900, options={"maxSendSize": 32 * 1024 * 1024}
    )
    behaviors = collections.Counter(r["behavior"] for r in report.values())
    print(f"\nAutobahn full, maxSendSize 32 MiB: {len(report)} cases, behavior {dict(behaviors)}")
    failed = {
        case: (r["behavior"], r["behaviorClose"])
        for case, r in report.items()
        if r["behavior"] not in PASSING or r["behaviorClose"] not in PASSING
    }
    assert all(
        behavior == "UNIMPLEMENTED" and case.startswith(UNIMPLEMENTED_BY_SERVER)
        for case, (behavior, _) in failed.items()
    ), failed
