"""``compare``: the same code under the ``seed`` and the ``device`` profiles, side by side.

:func:`compare` runs a function twice, once per profile, records what happened
in each run (:mod:`.recorder`) and lines the two runs up (:mod:`.result`);
:mod:`.runner` holds the runs' peers, threads and deadlines.
"""

from .recorder import Run, RunNamespace, Step
from .result import Comparison, Difference, Row
from .runner import compare

__all__ = ["Comparison", "Difference", "Row", "Run", "RunNamespace", "Step", "compare"]
