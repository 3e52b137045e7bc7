"""The server panel: watch and drive a ``WebSocketServer`` from a notebook widget.

``WebSocketServerPanel(server)`` shows the listening URL, a table of clients
(address, connected since, messages in and out, keepalive round trip, state)
and the selected client's messages in the same list/detail view as the client
panel, with its timeline. It sends to one client or to all, closes one client
with a code and a reason, and stops the server; only through the public API:
``server.watch`` (every record of every client, both directions: a ``mode``'s
replies and ``server.send`` calls from code included), ``server.clients()``
(the clients connected before the panel, with the server's own counters),
``send``, ``close`` and ``stop``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import traitlets

from ..core.errors import BusinessError
from ..core.events import Record
from ..core.masking import mask_urls_in
from ..server.config import WebSocketConnection
from ..server.websocket_server import ServerClient, WebSocketServer
from .panel_base import PanelBase, scheduler
from .panel_model import LogWindow, parse_close_code, parse_composer

__all__ = ["SERVER_VIEWS", "WebSocketServerPanel"]

#: The server panel's views (of the selected client).
SERVER_VIEWS = ("messages", "timeline")
#: Closed clients kept in the table (newest), after which the oldest goes.
CLOSED_KEPT = 20
#: Whole messages kept per client for the detail pane, in bytes.
CLIENT_FULL_BUDGET = 4 * 1024 * 1024


def _key(conn: WebSocketConnection) -> str:
    return f"{conn.clientIP}:{conn.clientPort}"


def _size(data: Any) -> int:
    return len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)


@dataclass
class _Client:
    """One client as the panel knows it.

    Messages are counted from the records, which the panel sees from the
    client's ``connect`` on. For a client that connected before the panel, the
    server's own counters (``engine``) count them instead, earlier ones
    included; its bytes are counted from ``bytes_from`` on.
    """

    conn: WebSocketConnection
    window: LogWindow
    since: float | None
    engine: ServerClient | None = None  # only for a client connected before the panel
    bytes_from: float | None = None  # when byte counting began, if after its connect
    messages_in: int = 0
    bytes_in: int = 0
    messages_out: int = 0
    bytes_out: int = 0
    rtt: float | None = None
    state: str = "open"
    close: list[Any] = field(default_factory=list)  # [code, reason] once closed
    closed_at: float | None = None

    def counts(self) -> tuple[int, int]:
        engine = self.engine
        if engine is not None:
            return engine.messages_in, engine.messages_out
        return self.messages_in, self.messages_out

    def row(self) -> dict[str, Any]:
        messages_in, messages_out = self.counts()
        return {
            "address": _key(self.conn),
            "clientIP": self.conn.clientIP,
            "clientPort": self.conn.clientPort,
            "since": self.since,
            "messagesIn": messages_in,
            "bytesIn": self.bytes_in,
            "messagesOut": messages_out,
            "bytesOut": self.bytes_out,
            "bytesFrom": self.bytes_from,
            "pingRoundTrip": self.rtt,
            "state": self.state,
            "close": self.close,
            "closedAt": self.closed_at,
        }


class WebSocketServerPanel(PanelBase):
    """A live panel for one :class:`~ohws_jupyter.server.WebSocketServer`.

    Args:
        server: The server to watch and drive (started or not).
        max_entries: Log entries kept per client.
        saved: Saved messages to start with.
    """

    panel_kind = traitlets.Unicode("server", read_only=True).tag(sync=True)
    url = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("STOPPED").tag(sync=True)
    #: The selected client's address (``ip:port``), '' for none.
    client = traitlets.Unicode("").tag(sync=True)
    _views = SERVER_VIEWS
    #: Seconds between two looks at the server's state (start and stop send no record).
    POLL = 1.0

    def __init__(
        self,
        server: WebSocketServer,
        max_entries: int = 1000,
        *,
        saved: Any = (),
        **kwargs: Any,
    ) -> None:
        if not isinstance(server, WebSocketServer):
            raise TypeError(
                f"WebSocketServerPanel needs a WebSocketServer, not {type(server).__name__}"
            )
        super().__init__(max_entries, saved, **kwargs)
        self.server = server
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._none = LogWindow(1)  # the window shown while no client is selected
        self._pending: deque[tuple[_Client, int, Record]] = deque()
        self._pending_max = max_entries * 4
        self._skipped: dict[str, int] = {}
        self._clients_dirty = True
        self._push_lock = threading.Lock()
        # Watch first, then list: a client is either listed here or seen
        # connecting by the observer (or, if it connected in between, both: the
        # observer's record wins and the listing skips it).
        self._stop_watch: Callable[[], None] | None = server.watch(self._observe)
        started = time.time()
        for engine in server.clients():
            if engine.info is not None:
                self._add_listed(engine, started)
        self._sync_traits()
        scheduler.call_later(self.POLL, self._poll)

    # -- the model the front end mirrors -------------------------------------------------
    @property
    def clients(self) -> list[dict[str, Any]]:
        """The clients table, oldest first: ``address``, ``since`` (when it
        connected), ``messagesIn``/``Out`` (every message, a mode's replies and
        ``server.send`` included), ``bytesIn``/``Out`` (counted from ``bytesFrom``
        if that is not None: the client connected before the panel),
        ``pingRoundTrip`` (seconds), ``state`` (``open``, ``closing`` or
        ``closed``) and ``close`` (``[code, reason]`` once closed). Closed
        clients stay until 20 newer ones closed."""
        with self._lock:
            return [c.row() for c in self._clients.values()]

    def select_client(self, index: int | str | None) -> dict[str, Any] | None:
        """Show the messages of client ``index`` of :attr:`clients` (or its
        ``ip:port`` address); None shows none. Returns its row.

        Raises:
            IndexError: No such client.
        """
        if index is None:
            self.client = ""
            return None
        rows = self.clients
        if isinstance(index, str):
            found = [r for r in rows if r["address"] == index]
            if not found:
                raise IndexError(f"no client {index!r}")
            row = found[0]
        else:
            if not -len(rows) <= index < len(rows):
                raise IndexError(f"no client {index}: the table has {len(rows)}")
            row = rows[index]
        self.client = row["address"]
        return row

    @property
    def counters(self) -> dict[str, Any]:
        """Totals over the clients in the table, and the last error."""
        with self._lock:
            clients = list(self._clients.values())
        counts = [c.counts() for c in clients]
        return {
            "clients": sum(1 for c in clients if c.state != "closed"),
            "messagesIn": sum(n for n, _ in counts),
            "bytesIn": sum(c.bytes_in for c in clients),
            "messagesOut": sum(n for _, n in counts),
            "bytesOut": sum(c.bytes_out for c in clients),
            "lastError": self._last_error,
            "now": time.time(),
        }

    # -- actions (also what the buttons do) ---------------------------------------------
    def send_to(self, target: int | str | None, text: str, mode: str = "text") -> int:
        """Send composer input to one client (index or address), or to every open
        client with ``target='all'``; returns how many it was sent to.
        ``None`` is the selected client. Mistakes go to the log."""
        try:
            data = parse_composer(text, mode)
        except ValueError as exc:
            self._local_error(f"not sent: {exc}")
            return 0
        return self._send_data(target, data)

    def send_saved(self, name: str, target: int | str | None = None) -> int:
        """Send the saved message ``name`` to ``target`` (see :meth:`send_to`).

        Raises:
            KeyError: There is no saved message of that name.
        """
        item = self.saved_message(name)
        return self.send_to(target, item["text"], item["mode"])

    def close_client(
        self, target: int | str | None = None, code: int | str | None = None, reason: str = ""
    ) -> None:
        """Close one client (index, address, or None for the selected one) with
        ``code`` (default 1000) and ``reason``."""
        try:
            number = parse_close_code(code)
        except ValueError as exc:
            self._local_error(f"not closed: {exc}")
            return
        clients = self._targets(target)
        if not clients:
            return
        client = clients[0]

        def done(err: BusinessError | None, _value: Any = None) -> None:
            if err is not None:
                self._local_error(err, client)

        self.server.close(client.conn, {"code": number, "reason": reason or ""}, done)

    def stop_server(self) -> None:
        """Stop the server (every client is closed with 1001)."""

        def done(err: BusinessError | None, _value: Any = None) -> None:
            if err is not None:
                self._local_error(err)
            self._arm()

        self.server.stop(done)

    def close(self) -> None:
        """Stop watching the server and close the widget (the server keeps running)."""
        stop = getattr(self, "_stop_watch", None)  # None if __init__ refused its arguments
        if stop is not None:
            stop()
            self._stop_watch = None
        self._closed = True
        super().close()

    # -- front-end actions (kernel shell thread) ----------------------------------------
    def _on_action(self, kind: Any, content: dict[str, Any]) -> None:
        target = content.get("target")
        if kind == "send":
            self.send_to(target, str(content.get("text", "")), str(content.get("mode", "text")))
        elif kind == "send_saved":
            self.send_saved(str(content.get("name", "")), target)
        elif kind == "close_client":
            self.close_client(target, content.get("code"), str(content.get("reason", "")))
        elif kind == "stop":
            self.stop_server()

    def _targets(self, target: int | str | None) -> list[_Client]:
        with self._lock:
            clients = list(self._clients.values())
        if target == "all":
            found = [c for c in clients if c.state == "open"]
            if not found:
                self._local_error("not sent: no client is connected")
            return found
        if target is None or target == "":
            target = self.client
        if isinstance(target, int) and not isinstance(target, bool):
            if -len(clients) <= target < len(clients):
                return [clients[target]]
        elif isinstance(target, str):
            for c in clients:
                if _key(c.conn) == target:
                    return [c]
        self._local_error("select a client first" if not target else f"no client {target!r}")
        return []

    def _send_data(self, target: int | str | None, data: str | bytes) -> int:
        clients = self._targets(target)
        for client in clients:
            self._send_one(client, data)
        return len(clients)

    def _send_one(self, client: _Client, data: str | bytes) -> None:
        def done(err: BusinessError | None, _value: Any = None) -> None:
            if err is not None:
                self._local_error(err, client)

        self.server.send(data, client.conn, done)

    # -- records (I/O thread, or the sender's thread) -------------------------------------
    def _add_client(
        self,
        conn: WebSocketConnection,
        since: float | None,
        engine: ServerClient | None = None,
        bytes_from: float | None = None,
    ) -> _Client:
        key = _key(conn)
        window = LogWindow(self.max_entries, server_side=True, full_budget=CLIENT_FULL_BUDGET)
        client = _Client(conn, window, since, engine, bytes_from)
        if engine is not None:
            client.rtt = engine.ping_round_trip
        with self._lock:
            self._clients.pop(key, None)  # a port reused after a close
            self._clients[key] = client
            closed = [k for k, c in self._clients.items() if c.state == "closed"]
            for gone in closed[: max(0, len(closed) - CLOSED_KEPT)]:
                del self._clients[gone]
        self._clients_dirty = True
        # Traits change on the panel thread, never on the server's I/O thread.
        scheduler.call_soon(self._select_first)
        return client

    def _add_listed(self, engine: ServerClient, started: float) -> None:
        """A client the server listed when the panel opened."""
        info = engine.info
        assert info is not None
        with self._lock:
            known = _key(info) in self._clients
        if known:
            return  # its 'connect' record came first: the panel sees it whole
        # A client admitted just as watch() began may still bring its 'connect'
        # record; then this note is only a moment early, and the counts are the
        # server's own either way.
        client = self._add_client(info, engine.connected_at, engine, bytes_from=started)
        text = (
            "connected before this panel: its earlier records are not shown "
            "(the table counts its messages from the start, its bytes from now)"
        )
        self._push(client, Record(engine.connected_at or started, "history", "=", data=text))

    def _select_first(self) -> None:
        """Select a client when none is, or when the selected one left the table."""
        with self._lock:
            if self.client in self._clients:
                return
            open_ = [k for k, c in self._clients.items() if c.state != "closed"]
            keys = open_ or list(self._clients)[-1:]
        self.client = keys[0] if keys else ""

    def _find_engine(self, conn: WebSocketConnection) -> ServerClient | None:
        for engine in self.server.clients():
            if engine.info == conn:
                return engine
        return None

    def _observe(self, connection: WebSocketConnection | None, rec: Record) -> None:
        """What ``server.watch`` calls, for every record of every client."""
        if connection is None:
            if rec.kind == "error":
                self._last_error = mask_urls_in(str(rec.error))
            self._arm()
            return
        kind = rec.kind
        with self._lock:
            client = self._clients.get(_key(connection))
        if kind == "connect" and (client is None or client.state == "closed"):
            client = self._add_client(connection, since=rec.time)
        elif kind == "connect" and client is not None:
            client.since, client.bytes_from = rec.time, None  # listed just before this record
        elif client is None:
            # Connected as the panel began to watch, its 'connect' record missed.
            engine = self._find_engine(connection)
            since = engine.connected_at if engine is not None else None
            client = self._add_client(connection, since, engine, bytes_from=rec.time)
        if kind == "message":
            size = _size(rec.data)
            if rec.direction == "<":
                client.messages_in += 1
                client.bytes_in += size
            else:
                client.messages_out += 1
                client.bytes_out += size
        elif kind == "pong" and isinstance(rec.data, (int, float)):
            client.rtt = float(rec.data)
        elif kind == "closing" and client.state == "open":
            client.state = "closing"
        elif kind == "error":
            self._last_error = mask_urls_in(str(rec.error))
        elif kind == "close":
            engine = client.engine
            if engine is not None:  # keep the server's final counts, not the connection
                client.messages_in, client.messages_out = engine.messages_in, engine.messages_out
                client.engine = None
            client.state = "closed"
            client.close = [rec.code, rec.reason or ""]
            client.closed_at = rec.time
        self._clients_dirty = True
        self._push(client, rec)

    def _local_error(self, err: BusinessError | str, client: _Client | None = None) -> None:
        self._last_error = mask_urls_in(str(err))
        if client is None:
            with self._lock:
                client = self._clients.get(self.client)
        if client is not None:
            self._push(client, Record(time.time(), "error", "=", error=err))
        else:
            self._arm()

    def _push(self, client: _Client, rec: Record) -> None:
        with self._push_lock:
            pending = self._pending
            if len(pending) >= self._pending_max:
                # A flood: the oldest waiting record is counted, not shown.
                gone, _, _ = pending.popleft()
                key = _key(gone.conn)
                self._skipped[key] = self._skipped.get(key, 0) + 1
            pending.append((client, client.window.seq + 1, rec))
            client.window.seq += 1
        if not self._flush_armed:
            self._arm()

    # -- the panel thread ----------------------------------------------------------------
    def _current_window(self) -> LogWindow:
        client = self._clients.get(self.client)
        return client.window if client is not None else self._none

    def _take_pending(self) -> list[dict[str, Any]]:
        """Move waiting records into their windows; returns the selected client's new entries."""
        with self._push_lock:
            items = list(self._pending)
            self._pending.clear()
            skipped, self._skipped = self._skipped, {}
        shown = self.client
        fresh = []
        with self._lock:
            for key, count in skipped.items():
                if key in self._clients:
                    self._clients[key].window.skip(count)
            for client, seq, rec in items:
                entry = client.window.add(seq, rec)
                if _key(client.conn) == shown:
                    fresh.append(entry)
        return fresh

    def _send_batch(self) -> None:
        fresh = self._take_pending()
        msg: dict[str, Any] = {
            "type": "batch",
            "client": self.client,
            "entries": [] if self.paused else fresh,
            **self._status(),
        }
        if self._clients_dirty:
            self._clients_dirty = False
            msg["clients"] = self.clients
        self._send_msg(msg)

    def _status(self) -> dict[str, Any]:
        window = self._current_window()
        return {"seq": window.seq, "dropped": window.dropped, "counters": self.counters}

    def _poll(self) -> None:
        if self._closed:
            return
        if self.server.state.name != self.state:
            self._arm()
        scheduler.call_later(self.POLL, self._poll)

    def _trait_changes(self) -> dict[str, Any]:
        values = {"state": self.server.state.name, "url": self.server.url or ""}
        return {k: v for k, v in values.items() if getattr(self, k) != v}

    @traitlets.observe("client")
    def _client_changed(self, _change: dict[str, Any]) -> None:
        self.selected = -1
        scheduler.call_soon(self._reset)

    def _snapshot(self, view: str) -> None:
        self._take_pending()
        self._send_msg(
            {
                "type": "snapshot",
                "view": view,
                "client": self.client,
                "clients": self.clients,
                "entries": self.entries,
                "detail": self._detail_msg(),
            }
            | self._status()
        )

    def _reset(self) -> None:
        self._take_pending()
        self._send_msg(
            {
                "type": "reset",
                "client": self.client,
                "clients": self.clients,
                "entries": self.entries,
            }
            | self._status()
        )

    def _clear(self) -> None:
        self._take_pending()
        with self._lock:
            self._current_window().clear()
        self._send_msg(
            {"type": "reset", "client": self.client, "clients": self.clients, "entries": []}
            | self._status()
        )
