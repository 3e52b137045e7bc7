"""An Autobahn fuzzing-server client built only on ohws_jupyter's public API.

It echoes every message back, reassembled from its 4 KiB pieces at
``'dataEnd'``, so the piece path is what the suite exercises. Run directly:

    python tests/conformance/autobahn_client.py ws://127.0.0.1:9001 [--agent NAME]

and read the fuzzing server's report, or call :func:`run_suite` from a test.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from ohws_jupyter import createWebSocket


def _session(
    url: str, timeout: float, on_message: Any = None, options: dict | None = None
) -> list[Any]:
    """Open ``url``, hand each whole message to ``on_message``; return the messages."""
    ws = createWebSocket()
    done = threading.Event()
    messages: list[Any] = []
    parts: list[Any] = []

    def piece(value: Any) -> None:
        parts.append(value)

    def data_end() -> None:
        message = "".join(parts) if parts and isinstance(parts[0], str) else b"".join(parts)
        parts.clear()
        messages.append(message)
        if on_message is not None:
            on_message(ws, message)

    ws.on("message", piece)
    ws.on("dataEnd", data_end)
    ws.on("close", lambda: done.set())
    ws.on("error", lambda err: None)  # reported through 'close'; cases expect failures
    connect = ws.connect(
        url, {"maxMessageSize": 64 * 1024 * 1024, "pingInterval": 0, **(options or {})}
    )
    try:
        connect.result(timeout)
    except Exception:
        return messages
    if not done.wait(timeout):
        ws.close().result(timeout)
    return messages


def run_suite(
    base: str,
    agent: str = "ohws_jupyter",
    timeout: float = 60,
    refused: dict | None = None,
    options: dict | None = None,
) -> int:
    """Run every case the server offers; returns the number of cases run.

    Args:
        refused: If given, filled with case number -> the codes of echoes our API
            refused to send (OHOS caps one send at 5 MiB − 16 bytes: 401).
        options: More connect options for the cases, e.g. ``{"maxSendSize": ...}``.
    """
    count = int(_session(f"{base}/getCaseCount", timeout)[0])
    for case in range(1, count + 1):

        def echo(ws: Any, message: Any, case: int = case) -> None:
            def note(err: Any) -> None:
                if refused is not None:
                    refused.setdefault(case, []).append(getattr(err, "code", None))

            ws.send(message).catch(note)

        _session(
            f"{base}/runCase?case={case}&agent={agent}", timeout, on_message=echo, options=options
        )
    _session(f"{base}/updateReports?agent={agent}", timeout)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the fuzzing server, e.g. ws://127.0.0.1:9001")
    parser.add_argument("--agent", default="ohws_jupyter")
    args = parser.parse_args(argv)
    print(f"ran {run_suite(args.url.rstrip('/'), args.agent)} cases", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
