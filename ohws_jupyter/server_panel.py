"""The server panel: watch and drive a ``WebSocketServer`` from a notebook widget.

``WebSocketServerPanel(server)`` shows the listening URL, a table of clients
(address, connected since, messages in and out, state) and the selected
client's messages in the same list/detail view as the client panel, with its
timeline. It sends to one client or to all, closes one client with a code and
a reason, and stops the server; only through the public API: the
``'connect'``, ``'messageReceive'``, ``'close'`` and ``'error'`` events,
``listAllConnections``, ``send``, ``close`` and ``stop``.

What the public API shows of a server is what arrives and what this panel
sends: replies made by a ``mode`` (echo, lab) or by your own ``server.send``
calls are not counted as *out*, unless the server offers ``watch`` (records of
both directions), which the panel then uses instead.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import traitlets

from .errors import BusinessError
from .events import Record
from .options import mask_urls_in
from .panel_base import PanelBase, scheduler
from .panel_model import LogWindow, parse_close_code, parse_composer
from .server import WebSocketServer
from .server_options import WebSocketConnection, WebSocketMessage

__all__ = ["SERVER_VIEWS", "WebSocketServerPanel"]

#: The server panel's views (of the selected client).
SERVER_VIEWS = ("messages", "timeline")
#: Closed clients kept in the table (newest), after which the oldest goes.
CLOSED_KEPT = 20
#: Whole messages kept per client for the detail pane, in bytes.
CLIENT_FULL_BUDGET = 4 * 1024 * 1024


def _key(conn: WebSocketConnection) -> str:
    return f"{conn.clientIP}:{conn.clientPort}"


@dataclass
class _Client:
    """One client as the panel knows it."""

    conn: WebSocketConnection
    window: LogWindow
    since: float | None
    messages_in: int = 0
    bytes_in: int = 0
    messages_out: int = 0
    bytes_out: int = 0
    state: str = "open"
    close: list[Any] = field(default_factory=list)  # [code, reason] once closed
    closed_at: float | None = None

    def row(self) -> dict[str, Any]:
        return {
            "address": _key(self.conn),
            "clientIP": self.conn.clientIP,
            "clientPort": self.conn.clientPort,
            "since": self.since,
            "messagesIn": self.messages_in,
            "bytesIn": self.bytes_in,
            "messagesOut": self.messages_out,
            "bytesOut": self.bytes_out,
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
    #: Whether *out* counts every message the server sent (the server offers
    #: ``watch``), or only those this panel sent.
    sees_all_sends = traitlets.Bool(False, read_only=True).tag(sync=True)
    _views = SERVER_VIEWS
    #: Seconds between two looks at the server's state (start and stop send no event).
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
        self._seq = 0
        self._clients_dirty = True
        self._push_lock = threading.Lock()
        self._order = itertools.count()
        for conn in server.listAllConnections():
            self._add_client(conn, since=None)
        self._subscriptions: list[tuple[str, Callable[..., Any]]] = []
        watch = getattr(server, "watch", None)
        self._stop_watch: Callable[[], None] | None = None
        if callable(watch):
            # Records of both directions, mode replies and code's sends included.
            self._stop_watch = watch(self._observe)
            self.set_trait("sees_all_sends", True)
        else:
            for event, callback in (
                ("connect", self._on_connect),
                ("messageReceive", self._on_message),
                ("close", self._on_close),
                ("error", self._on_error),
            ):
                server.on(event, callback)
                self._subscriptions.append((event, callback))
        if self._clients:
            self.client = next(iter(self._clients))
        self._sync_traits()
        scheduler.call_later(self.POLL, self._poll)

    # -- the model the front end mirrors -------------------------------------------------
    @property
    def clients(self) -> list[dict[str, Any]]:
        """The clients table, oldest first: ``address``, ``since`` (None if it was
        connected before the panel), ``messagesIn``/``Out``, ``bytesIn``/``Out``,
        ``state`` (``open``, ``closing`` or ``closed``) and ``close`` (``[code,
        reason]`` once closed). Closed clients stay until 20 newer ones closed."""
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
        return {
            "clients": sum(1 for c in clients if c.state != "closed"),
            "messagesIn": sum(c.messages_in for c in clients),
            "bytesIn": sum(c.bytes_in for c in clients),
            "messagesOut": sum(c.messages_out for c in clients),
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

        if client.state == "open":
            client.state = "closing"
            self._clients_dirty = True
        if self._stop_watch is None:
            self._push(client, Record(time.time(), "closing", ">", code=number, reason=reason))
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
        for event, callback in getattr(self, "_subscriptions", ()):
            self.server.off(event, callback)
        self._subscriptions = []
        stop = getattr(self, "_stop_watch", None)
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
            elif self._stop_watch is None:
                size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
                client.messages_out += 1
                client.bytes_out += size
                self._clients_dirty = True
                self._push(client, Record(time.time(), "message", ">", data=data, pieces=1))

        self.server.send(data, client.conn, done)

    # -- events (callback thread) ----------------------------------------------------------
    def _add_client(self, conn: WebSocketConnection, since: float | None) -> _Client:
        key = _key(conn)
        window = LogWindow(self.max_entries, server_side=True, full_budget=CLIENT_FULL_BUDGET)
        client = _Client(conn, window, since)
        with self._lock:
            old = self._clients.pop(key, None)  # a port reused after a close
            if old is not None:
                self._forget(old)
            self._clients[key] = client
            closed = [k for k, c in self._clients.items() if c.state == "closed"]
            for gone in closed[: max(0, len(closed) - CLOSED_KEPT)]:
                self._forget(self._clients.pop(gone))
        self._clients_dirty = True
        if since is None:
            text = f"{key} was connected before this panel"
            self._push(client, Record(time.time(), "history", "=", data=text))
        return client

    def _forget(self, client: _Client) -> None:
        if _key(client.conn) == self.client:
            self.client = ""

    def _client_of(self, conn: WebSocketConnection | None) -> _Client | None:
        if conn is None:
            return None
        with self._lock:
            return self._clients.get(_key(conn))

    def _on_connect(self, conn: WebSocketConnection) -> None:
        with self._lock:
            known = self._clients.get(_key(conn))
        if known is not None and known.state != "closed" and known.since is None:
            # Listed when the panel was made, its 'connect' event still on its way.
            known.since = time.time()
            client = known
        else:
            client = self._add_client(conn, since=time.time())
        self._push(client, Record(time.time(), "connect", "=", data=f"client {_key(conn)}"))
        if not self.client:
            self.client = _key(conn)

    def _on_message(self, message: WebSocketMessage) -> None:
        client = self._client_of(message.clientConnection)
        if client is None:
            return
        data = message.data
        client.messages_in += 1
        client.bytes_in += len(data.encode("utf-8")) if isinstance(data, str) else len(data)
        self._clients_dirty = True
        self._push(client, Record(time.time(), "message", "<", data=data, pieces=1))

    def _on_close(self, conn: WebSocketConnection, result: Any) -> None:
        client = self._client_of(conn)
        if client is None:
            return
        code, reason = getattr(result, "code", None), getattr(result, "reason", "")
        client.state = "closed"
        client.close = [code, reason]
        client.closed_at = time.time()
        self._clients_dirty = True
        self._push(client, Record(time.time(), "close", "=", code=code, reason=reason))

    def _on_error(self, err: BusinessError) -> None:
        data = getattr(err, "data", None)
        client = self._client_of(data if isinstance(data, WebSocketConnection) else None)
        self._last_error = mask_urls_in(str(err))
        if client is not None:
            self._push(client, Record(time.time(), "error", "=", error=err))
        else:
            self._arm()

    def _observe(self, connection: WebSocketConnection | None, rec: Record) -> None:
        """A record from ``server.watch`` (when the server offers it)."""
        if connection is None:
            if rec.kind == "error":
                self._last_error = mask_urls_in(str(rec.error))
            self._arm()
            return
        client = self._client_of(connection)
        if rec.kind == "connect" or client is None:
            client = self._add_client(connection, since=rec.time)
            if not self.client:
                self.client = _key(connection)
        if rec.kind == "message":
            data = rec.data
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
            if rec.direction == "<":
                client.messages_in += 1
                client.bytes_in += size
            else:
                client.messages_out += 1
                client.bytes_out += size
        elif rec.kind == "closing" and client.state == "open":
            client.state = "closing"
        elif rec.kind == "close":
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
            self._seq += 1
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

    def _flush(self) -> None:
        self._flush_armed = False
        self._last_flush = time.monotonic()
        fresh = self._take_pending()
        self._sync_traits()
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

    def _sync_traits(self) -> None:
        values = {"state": self.server.state.name, "url": self.server.url or ""}
        changed = {k: v for k, v in values.items() if getattr(self, k) != v}
        if changed and not self._closed:
            with self.hold_sync():
                for name, value in changed.items():
                    setattr(self, name, value)

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
