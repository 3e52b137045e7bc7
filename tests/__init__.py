"""The test suite, in three tiers that mirror the package.

- ``unit/``: no sockets, no threads, no kernels; the core and the engine's
  sans-I/O parts. Runs in seconds: ``python -m pytest tests/unit``.
- ``integration/``: real peers on 127.0.0.1 (our server, plain ``websockets``
  servers, Node.js ``ws``, Autobahn, TLS, a proxy).
- ``jupyter/``: real kernels, IPython shells, notebooks, the command line,
  JupyterLite and JupyterLab in a browser.

Shared helpers live in :mod:`tests.helpers`; ``conftest.py`` files hold only
fixtures and hooks. ``python -m pytest`` runs all three tiers.
"""
