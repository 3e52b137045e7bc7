"""The ``seed`` and ``device`` profiles, client and server, against real peers."""
