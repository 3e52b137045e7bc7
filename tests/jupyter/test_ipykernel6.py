"""The real-kernel tests again, on ipykernel 6 (the suite's own env has 7)."""

from __future__ import annotations

import os
import subprocess
import venv

import pytest

from tests.helpers import ROOT


@pytest.mark.timeout(900)
def test_kernel_behaviour_on_ipykernel_6(tmp_path):
    env_dir = tmp_path / "ipykernel6"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "ipykernel>=6,<7", "jupyter_client", "pytest", "pytest-timeout", "-e", str(ROOT)],
        check=True,
        env=env,
        timeout=600,
    )  # fmt: skip
    version = subprocess.run(
        [python, "-c", "import ipykernel; print(ipykernel.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    assert version.startswith("6."), version
    out = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/jupyter/test_kernel.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "5 passed" in out.stdout
