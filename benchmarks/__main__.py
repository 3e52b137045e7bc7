"""``python -m benchmarks [--quick] [--repeats N] [--only NAME ...]``."""

import sys

from .run import main

sys.exit(main())
