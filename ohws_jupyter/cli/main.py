"""The command line: ``python -m ohws_jupyter serve|demo|lite``.

``demo`` copies the lesson notebooks into a working folder and starts JupyterLab
there on the quickstart notebook, whose embedded server is the peer (see
:mod:`ohws_jupyter.cli.demo`).

``serve`` prints the URL it listens on as its first line of standard output,
logs connections and messages to standard error with timestamps, and on
Ctrl-C (or SIGTERM) closes every client with 1001 and exits with status 0.
``ohws-serve`` is the same as ``python -m ohws_jupyter serve``.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import time
from collections.abc import Sequence

from ..core.errors import BusinessError
from ..server.config import (
    MODES,
    WebSocketConnection,
    WebSocketMessage,
    WebSocketServerConfigDict,
)
from ..server.modes import LAB_HELP
from ..server.websocket_server import createWebSocketServer
from . import demo as demo_module
from . import lite as lite_module

__all__ = ["build_parser", "build_serve_parser", "main", "serve_main"]

log = logging.getLogger("ohws_jupyter.serve")
# How long stopping may take before we give up waiting for slow clients.
STOP_TIMEOUT = 15.0
# The API's config fields, as the flags that set them: serve's errors name the flags.
_FLAGS = {
    "serverCert.certPath": "--cert",
    "serverCert.keyPath": "--key",
    "serverPort": "--port",
    "serverIP": "--host",
    "maxConcurrentClientsNumber": "--max-clients",
    "maxConnectionsForOneClient": "--max-per-client",
    "protocol": "--protocol",
}
_FIELD = re.compile(r"\b(" + "|".join(re.escape(f) for f in _FLAGS) + r")\b")


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 opens it to the network)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default 0: a free port)"
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="echo",
        help="echo: reply with each message (default); broadcast: send each message "
        "to every client; lab: messages starting with / make the server misbehave",
    )
    parser.add_argument("--max-clients", type=int, default=10, help="clients at once (default 10)")
    parser.add_argument(
        "--max-per-client",
        type=int,
        default=10,
        help="connections at once from one IP address (default 10)",
    )
    parser.add_argument("--protocol", default=None, help="subprotocol(s) to accept, e.g. chat")
    parser.add_argument("--cert", default=None, help="PEM certificate: serve wss://")
    parser.add_argument("--key", default=None, help="PEM private key of --cert")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="log connections only, not messages"
    )


_SERVE_DESCRIPTION = "Run a WebSocket server until Ctrl-C."


def build_serve_parser(prog: str = "ohws-serve") -> argparse.ArgumentParser:
    """The parser of the ``ohws-serve`` command (``serve`` on its own)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=_SERVE_DESCRIPTION,
        epilog=LAB_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_serve_arguments(parser)
    parser.set_defaults(run=_serve)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m ohws_jupyter`` parser, one subcommand per tool."""
    parser = argparse.ArgumentParser(
        prog="python -m ohws_jupyter",
        description="The OpenHarmony @ohos.net.webSocket API in Python: tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = sub.add_parser(
        "serve",
        help="run a WebSocket server (echo, broadcast or lab)",
        description=_SERVE_DESCRIPTION,
        epilog=LAB_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_serve_arguments(serve)
    serve.set_defaults(run=_serve)
    demo = sub.add_parser(
        "demo",
        help="JupyterLab on the quickstart notebook",
        description="Copy the lesson notebooks into a working folder (--dir, default "
        "./ohws-demo) and start JupyterLab (127.0.0.1) there on 01-quickstart.ipynb, whose "
        "embedded server is the peer; Ctrl-C or SIGTERM stops it and its kernels. "
        "--check runs the notebooks headless instead.",
    )
    demo_module.add_arguments(demo)
    demo.set_defaults(run=demo_module.run)
    lite = sub.add_parser(
        "lite",
        help="build an offline JupyterLite site (Python in the page) with the notebooks",
        description="Build a static JupyterLite site with this package, its dependencies "
        "and the notebooks: Python runs in the page, nothing loads from the network. "
        "--serve then serves it on 127.0.0.1.",
    )
    lite_module.add_arguments(lite)
    lite.set_defaults(run=lite_module.run)
    return parser


def _show(data: str | bytes, limit: int = 80) -> str:
    if isinstance(data, bytes):
        head = data[:limit].hex(" ")
        return f"binary {len(data)} bytes: {head}{' …' if len(data) > limit else ''}"
    text = data if len(data) <= limit else data[: limit - 1] + "…"
    return f"text {len(data)} chars: {text!r}"


def _who(conn: WebSocketConnection) -> str:
    return f"{conn.clientIP}:{conn.clientPort}"


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(message)s",
        datefmt="%H:%M:%S",
    )
    # The server's own lifecycle lines would repeat ours; keep its warnings.
    logging.getLogger("ohws_jupyter.server").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    config: WebSocketServerConfigDict = {
        "serverIP": args.host,
        "serverPort": args.port,
        "mode": args.mode,
        "maxConcurrentClientsNumber": args.max_clients,
        "maxConnectionsForOneClient": args.max_per_client,
    }
    if args.protocol:
        config["protocol"] = args.protocol
    if bool(args.cert) != bool(args.key):
        print("error: --cert and --key go together; give both", file=sys.stderr)
        return 2
    if args.cert:
        config["serverCert"] = {"certPath": args.cert, "keyPath": args.key}

    server = createWebSocketServer()
    server.on("connect", lambda conn: log.info("= connect %s", _who(conn)))
    server.on(
        "close",
        lambda conn, result: log.info(
            "= close %s %s %s", _who(conn), result.code, result.reason or ""
        ),
    )
    server.on("error", lambda err: log.info("! error %s", err.message))
    if not args.quiet:
        server.on("messageReceive", _log_message)
    try:
        server.start(config).result(30)
    except BusinessError as err:
        print(f"error: {_as_flags(err.message)}", file=sys.stderr)
        return 2
    # The first line of stdout is the URL, for people and for scripts that wait for it.
    print(server.url, flush=True)
    log.info("= listening on %s, mode %s; Ctrl-C stops", server.url, args.mode)

    received: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, frame: received.append(signum))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not received:
            # The handler runs on this thread and interrupts the sleep; the short
            # period only bounds the wait if a signal arrived between two checks.
            time.sleep(0.2)
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the close
        count = len(server.listAllConnections().result())
        log.info("= stopping: closing %d client(s) with 1001", count)
        try:
            server.stop().result(STOP_TIMEOUT)
        except (BusinessError, TimeoutError) as err:
            log.info("! stop did not finish cleanly: %s", err)
            return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("= stopped")
    return 0


def _as_flags(message: str) -> str:
    """An API error message with the config fields named as this command's flags."""
    return _FIELD.sub(lambda m: _FLAGS[m.group(1)], message)


def _log_message(message: WebSocketMessage) -> None:
    log.info("< %s %s", _who(message.clientConnection), _show(message.data))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m ohws_jupyter COMMAND ...``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


def serve_main(argv: Sequence[str] | None = None) -> int:
    """The ``ohws-serve`` console script: ``serve`` without the subcommand word."""
    args = build_serve_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
