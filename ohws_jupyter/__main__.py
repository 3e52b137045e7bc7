"""``python -m ohws_jupyter``: the command line lives in ``cli.main``."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
