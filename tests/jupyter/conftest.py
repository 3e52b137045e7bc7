"""The Jupyter tier's kernel: one real kernel per test module, shared by its tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.kernel import Kernel


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    """A started :class:`tests.helpers.kernel.Kernel`, shut down after the module's tests.

    One per module: starting one takes seconds, and modules do not share
    variables, ``%ws`` connections or warnings already shown.
    """
    pytest.importorskip("jupyter_client")
    k = Kernel()
    try:
        yield k
    finally:
        k.stop()
