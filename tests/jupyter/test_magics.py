"""The ``%ws`` magics, driven through real IPython shells against real loopback servers."""

from __future__ import annotations

import _thread
import base64
import json
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ohws_jupyter import BusinessError, CloseResult, ReadyState, WebSocket, createWebSocket
from ohws_jupyter.jupyter.magics import COMMANDS, LogView, WebSocketMagics
from tests.helpers import ROOT, ThreadServer, echo_handler, running_server, wait_until
from tests.helpers.kernel import Kernel


# -- fixtures --------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    def choose(conn: Any, offered: list[str]) -> str | None:
        # Speaks "chat" when offered, and also accepts clients that offer nothing.
        return "chat" if "chat" in offered else None

    with running_server(echo_handler, select_subprotocol=choose) as srv:
        yield srv


def usage(run: Any, line: str, cell: str | None = None) -> str:
    """The text of the UsageError that ``%ws line`` raises."""
    with pytest.raises(UsageError) as info:
        run(line, cell)
    return str(info.value)


def interrupt_when_blocked(function: str) -> threading.Thread:
    """Raise KeyboardInterrupt in the main thread once it blocks in the magics' ``function``."""
    main = threading.main_thread().ident

    def blocked() -> bool:
        frame = sys._current_frames().get(main)
        while frame is not None:
            code = frame.f_code
            if code.co_name == function and "magics" in code.co_filename:
                return True
            frame = frame.f_back
        return False

    def run() -> None:
        wait_until(blocked, 20, f"the main thread to block in {function}")
        _thread.interrupt_main()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- loading, routing, help ----------------------------------------------------------
def test_load_ext_registers_line_and_cell_magic(shell: InteractiveShell) -> None:
    result = shell.run_cell("%load_ext ohws_jupyter")
    assert result.success
    assert shell.find_line_magic("ws") is not None
    assert shell.find_cell_magic("ws") is not None


def test_every_command_of_the_issue_is_routed() -> None:
    assert set(COMMANDS) == {
        "serve", "connect", "send", "wait", "close", "status", "list", "log", "panel",
        "export", "help", "replay", "expect", "request", "profile", "compare",
    }  # fmt: skip


def test_help_prints_the_parsers_help(ws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ws("help send")
    out = capsys.readouterr().out
    assert "%ws send [-n NAME] [--binary HEX] [--base64 B64] [--json] [TEXT ...]" in out
    assert "--json                %%ws send only" in out
    ws("connect -h")
    assert "%ws connect [-n NAME] [-H 'NAME: VALUE']" in capsys.readouterr().out
    ws("help")
    out = capsys.readouterr().out
    assert out.startswith("%ws COMMAND [ARGS]: drive WebSocket connections")
    for name in COMMANDS:
        assert f"\n  {name:<8} " in out
    ws("")
    assert capsys.readouterr().out.startswith("%ws COMMAND [ARGS]")


def test_connect_help_shows_the_url_as_required(
    ws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ws("help connect")
    usage_line = capsys.readouterr().out.split("Connect and wait")[0]
    assert "[URL]" not in usage_line
    assert usage_line.split()[-1] == "URL"


def test_help_is_read_from_the_options_only(
    ws: Any, server: ThreadServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ws(f"connect {server.url}")
    capsys.readouterr()
    assert ws("send -- -h") is True
    assert ws("wait") == "-h"
    assert ws("send -- --help") is True
    assert ws("wait") == "--help"
    assert ws("send what does -h do") is True
    assert ws("wait") == "what does -h do"
    assert capsys.readouterr().out == ""
    ws("send -h")
    assert capsys.readouterr().out.lstrip(":\n ").startswith("%ws send [-n NAME]")


def test_question_mark_shows_every_command(
    shell: InteractiveShell, ws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell("%ws?")
    out = capsys.readouterr().out
    for usage_line in ("%ws serve [--port PORT]", "%ws wait [-n NAME]", "%ws export [-n NAME]"):
        assert usage_line in out


def test_unknown_command_and_help_topic(ws: Any) -> None:
    assert usage(ws, "sned hi") == "%ws has no command 'sned'; did you mean %ws send?"
    assert usage(ws, "frobnicate") == "%ws has no command 'frobnicate'; see %ws help"
    assert usage(ws, "help frobnicate") == "%ws has no command 'frobnicate'; see %ws help"


def test_cell_form_is_only_for_send(ws: Any) -> None:
    assert (
        usage(ws, "status", "x\n")
        == "%%ws works only with send and compare; write %ws status on a line instead"
    )


def test_usage_error_shows_one_line_without_traceback(
    shell: InteractiveShell, ws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell("%ws send hi")
    assert isinstance(result.error_in_exec, UsageError)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "UsageError: no connection yet; open one with %ws connect URL" in text
    assert "Traceback" not in text


def test_argparse_errors_name_the_help(ws: Any) -> None:
    assert (
        usage(ws, "status extra")
        == "%ws status: unrecognized arguments: extra; see %ws help status"
    )
    assert usage(ws, "close -n") == (
        "%ws close: argument -n/--name: expected one argument; see %ws help close"
    )
    assert usage(ws, "wait --count x") == (
        "%ws wait: argument --count: invalid int value: 'x'; see %ws help wait"
    )
    text = usage(ws, "wait nope")
    assert text.startswith("%ws wait: argument EVENT: invalid choice: 'nope'")
    assert text.endswith("; see %ws help wait")


# -- connect ------------------------------------------------------------------------
def test_connect_waits_until_open_and_returns_the_websocket(
    ws: Any, magics: WebSocketMagics, server: ThreadServer
) -> None:
    sock = ws(f"connect {server.url} -p chat")
    assert isinstance(sock, WebSocket)
    assert sock.state is ReadyState.OPEN
    assert sock.protocol == "chat"
    assert magics.current == "ws"


def test_connect_interpolates_user_variables(
    shell: InteractiveShell, magics: WebSocketMagics, server: ThreadServer
) -> None:
    shell.user_ns["lesson_url"] = server.url
    shell.user_ns["who"] = "teacher"
    assert shell.run_cell("%ws connect $lesson_url -n {who}").success
    assert magics.connections["teacher"].ws.url == server.url


def test_same_name_replaces_and_default_target_is_the_most_recent(
    ws: Any, magics: WebSocketMagics, server: ThreadServer
) -> None:
    first = ws(f"connect {server.url} -n a")
    second = ws(f"connect {server.url} -n a")
    assert first is not second
    assert first.state is ReadyState.CLOSED
    assert first.stats.lastClose == CloseResult(1000, "replaced")
    assert list(magics.connections) == ["a"]
    ws(f"connect {server.url} -n b")
    ws("send to b")
    assert ws("wait") == "to b"
    assert second.stats.messagesOut == 0
    assert [row["name"] for row in ws("list")] == ["a", "b"]


def test_failed_connect_shows_the_business_error(ws: Any, magics: WebSocketMagics) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}"
    probe_ws = createWebSocket()  # held: a dropped WebSocket closes itself
    with pytest.raises(BusinessError) as direct:
        probe_ws.connect(url).result(10)
    assert direct.value.code == 200
    assert usage(ws, f"connect {url}") == f"%ws connect {url} failed: {direct.value}"
    status = ws("status")
    assert status["state"] == "CLOSED"
    assert status["lastError"]["code"] == 200


def test_connect_user_mistakes(ws: Any) -> None:
    assert usage(ws, "connect") == "%ws connect needs a URL, e.g. %ws connect ws://127.0.0.1:8765"
    assert usage(ws, "connect http://example.org") == (
        "%ws connect http://example.org failed: [2302001] Websocket url error: "
        "'http://example.org' is not a WebSocket URL; it must start with ws:// or wss://"
    )
    assert usage(ws, "connect ws://127.0.0.1:1 -H 'Authorization Bearer x'") == (
        "a header needs a colon; write it as -H 'Name: value'"
    )
    assert usage(ws, "connect ws://127.0.0.1:1 -H 'Bad Name: x'") == (
        "header name 'Bad Name' is not valid; use letters, digits and - as in -H 'X-Token: value'"
    )
    assert usage(ws, "connect ws://127.0.0.1:1 --timeout -1") == (
        "--timeout must be 0 or more seconds, not -1"
    )
    text = usage(ws, "connect wss://127.0.0.1:1 --ca /no/such/ca.pem")
    assert text.startswith("%ws connect wss://127.0.0.1:1 failed: [2302002]")


def test_connect_mistakes_never_repeat_a_credential(ws: Any, server: ThreadServer) -> None:
    text = usage(ws, f'connect {server.url} -H "Authorization: Bearer s3cr3t')
    assert text == "%ws connect: no closing quotation; close the quote or drop it"
    text = usage(ws, f"connect {server.url} -H Authorization: Bearer s3cr3t")
    assert text == (
        "%ws connect: words after the URL and options that are neither (not shown: they may "
        "hold a credential); quote each header as -H 'Name: value'; see %ws help connect"
    )
    text = usage(ws, "connect -H 'Authorization: Bearer s3cr3t'")
    assert text == "%ws connect needs a URL, e.g. %ws connect ws://127.0.0.1:8765"


def test_interrupted_connect_leaves_the_runtime_working(
    ws: Any, magics: WebSocketMagics, server: ThreadServer
) -> None:
    ws(f"connect {server.url} -n keep")
    silent = socket.socket()  # accepts TCP, never answers the handshake
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        port = silent.getsockname()[1]
        interrupter = interrupt_when_blocked("connect")
        with pytest.raises(KeyboardInterrupt) as info:
            ws(f"connect ws://127.0.0.1:{port} -n stuck --timeout 60")
        interrupter.join(10)
        # What IPython shows instead of a traceback: one line.
        assert info.value._render_traceback_() == [
            f"KeyboardInterrupt: %ws connect stopped; the attempt to ws://127.0.0.1:{port} "
            "is abandoned and other connections go on"
        ]
        stuck = magics.connections["stuck"].ws
        wait_until(lambda: stuck.state is ReadyState.CLOSED, 10, "the attempt to end")
    finally:
        silent.close()
    ws("send -n keep still here")
    assert ws("wait -n keep") == "still here"
    again = ws(f"connect {server.url} -n stuck")
    assert again.state is ReadyState.OPEN


# -- send -----------------------------------------------------------------------------
def test_send_text_is_the_rest_of_the_line(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url}")
    assert ws('send  {"a": 1}   spaced  ') is True
    assert ws("wait") == '{"a": 1}   spaced'
    ws("send -5 degrees")
    assert ws("wait") == "-5 degrees"
    ws("send -- --json is text here")
    assert ws("wait") == "--json is text here"


def test_send_interpolates_like_ipython(
    shell: InteractiveShell, ws: Any, server: ThreadServer
) -> None:
    ws(f"connect {server.url}")
    shell.user_ns["who"] = "teacher"
    assert shell.run_cell("%ws send hello {who} and $who").success
    assert ws("wait") == "hello teacher and teacher"


def _finishes(shell: InteractiveShell, cell: str, seconds: float = 60) -> Any:
    """``shell.run_cell(cell)``, failing the test if it is still running after ``seconds``."""
    box: list[Any] = []
    runner = threading.Thread(target=lambda: box.append(shell.run_cell(cell)), daemon=True)
    runner.start()
    runner.join(seconds)
    assert box, f"{cell} still running after {seconds} s"
    return box[0]


def test_a_huge_message_gets_the_401_at_once(
    shell: InteractiveShell, ws: Any, server: ThreadServer
) -> None:
    ws(f"connect {server.url}")
    big = "x" * 10_000_000  # one word, no spaces: the option splitter once took minutes
    shell.user_ns.update(big=big, quoted=f'"{big}', pairs='"a"' * 3_000_000, hexed="ab" * 6_000_000)
    refused = (
        "%ws send failed: [401] Parameter error: data is {} bytes; "
        "send at most 5242864 (5 MiB − 16) per call, or raise the cap with the maxSendSize option"
    )
    for line, size in [
        ("send $big", 10_000_000),
        ("send $quoted", 10_000_001),
        ("send $pairs", 9_000_000),
        ("send --binary $hexed", 6_000_000),
    ]:
        # A deadline against a quadratic splitter (minutes), generous for a busy machine.
        result = _finishes(shell, f"%ws {line}")
        assert isinstance(result.error_in_exec, UsageError), line
        assert str(result.error_in_exec) == refused.format(size), line
    result = _finishes(shell, "%ws close 4000 $big")
    assert "close reason is 10000000 UTF-8 bytes" in str(result.error_in_exec)
    result = _finishes(shell, "%ws connect $big")
    assert str(result.error_in_exec) == (
        "%ws connect: the arguments are 10,000,000 characters; at most 100,000 are read"
    )
    shell.user_ns["many"] = "-n x " * 1_000_000
    result = _finishes(shell, "%ws send $many hi")
    assert str(result.error_in_exec) == (
        "the options take over 100,000 characters; put the text after them (or after --)"
    )
    assert ws("status")["state"] == "OPEN"  # nothing was sent, nothing broke
    assert ws("status")["messagesOut"] == 0


def test_send_binary(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url}")
    ws("send --binary 00ff10")
    assert ws("wait") == b"\x00\xff\x10"
    ws(f"send --base64 {base64.b64encode(b'hi there').decode()}")
    assert ws("wait") == b"hi there"


def test_cell_send_and_json(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url}")
    assert ws("send", "line one\n  line two\n") is True
    assert ws("wait") == "line one\n  line two"
    ws("send --json", '{\n  "type": "join",\n  "room": 1\n}\n')
    assert ws("wait") == '{"type":"join","room":1}'
    assert usage(ws, "send --json", '{"type": "join",\n "room" 1}\n') == (
        "the cell is not valid JSON: Expecting ':' delimiter (line 2, column 9); "
        "fix it or drop --json"
    )
    assert usage(ws, "send", "   \n") == "the cell is empty; write the message below %%ws send"
    assert usage(ws, "send extra", "body\n") == (
        "%%ws send takes the message from the cell; drop the text"
    )


def test_send_user_mistakes(ws: Any, server: ThreadServer) -> None:
    assert usage(ws, "send hi") == "no connection yet; open one with %ws connect URL"
    ws(f"connect {server.url}")
    assert usage(ws, "send") == (
        "%ws send needs a message: %ws send TEXT, --binary HEX, --base64 B64, "
        "or the %%ws send cell form"
    )
    assert usage(ws, "send --binary 0g") == (
        "--binary needs hex digits, two per byte, e.g. --binary 01ff"
    )
    assert usage(ws, "send --base64 !!") == "--base64 needs base64 text, e.g. --base64 AQL/"
    assert (
        usage(ws, "send --binary 01 --base64 AQ==") == "give either --binary or --base64, not both"
    )
    assert usage(ws, "send --binary 01 text") == (
        "a binary message takes no text; drop the text or the option"
    )
    assert usage(ws, "send --json {}") == "--json works with the cell form; write %%ws send --json"
    assert usage(ws, "send -n nobody hi") == (
        "no connection named 'nobody' (this shell has 'ws' OPEN); "
        "open it with %ws connect URL -n nobody"
    )
    ws("close")
    assert (
        usage(ws, "send hi") == "cannot send: 'ws' is CLOSED; reconnect with %ws connect URL -n ws"
    )


# -- wait ----------------------------------------------------------------------------------
def test_wait_returns_whole_messages_in_order(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url} -p chat")
    big = "x" * 10_000  # delivered to callbacks in 4 KiB pieces, waited for whole
    for text in ("one", "two", big):
        ws(f"send {text}")
    assert ws("wait --count 2") == ["one", "two"]
    assert ws("wait") == big
    assert ws("log --last 1")[0].pieces == 3


def test_wait_for_close_open_and_error(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url} -p chat")
    ws("send kick")  # the server closes with 4001 'kicked'
    assert ws("wait close") == CloseResult(4001, "kicked")
    ws(f"connect {server.url}")
    ws("send drop")  # the server cuts TCP: an error, then the close
    err = ws("wait error")
    assert isinstance(err, BusinessError) and err.code == 200
    assert ws("wait close").code == 1006


def test_connect_takes_its_own_open_event(ws: Any, server: ThreadServer) -> None:
    # connect consumes its own 'open', so waiting for another one times out.
    ws(f"connect {server.url} -p chat")
    assert usage(ws, "wait open --timeout 0.05") == (
        "no 'open' event arrived on 'ws' within 0.05 s; send something first or raise --timeout"
    )


def test_wait_user_mistakes(ws: Any, server: ThreadServer) -> None:
    assert usage(ws, "wait") == "no connection yet; open one with %ws connect URL"
    ws(f"connect {server.url}")
    assert usage(ws, "wait --timeout 0.05") == (
        "no message arrived on 'ws' within 0.05 s; send something first or raise --timeout"
    )
    ws("send only one")
    # The echo must be in before the timed wait, or a slow machine gets 0 of 2.
    wait_until(lambda: any(r.direction == "<" for r in ws("log")), 10, "the echo")
    assert usage(ws, "wait --count 2 --timeout 0.2") == (
        "only 1 of 2 messages arrived on 'ws' within 0.2 s; send something first or raise --timeout"
    )
    assert usage(ws, "wait --count 0") == "--count must be 1 or more, not 0"
    assert usage(ws, "wait --timeout -2") == "--timeout must be 0 or more seconds, not -2"
    ws("send kick")
    assert ws("wait close") == CloseResult(4001, "kicked")
    assert usage(ws, "wait --count 2") == (
        "only 1 of 2 messages arrived before 'ws' closed (4001 'kicked'); take them with --count 1"
    )
    assert ws("wait") == "only one"
    assert usage(ws, "wait") == (
        "'ws' is closed (4001 'kicked') and no message is waiting; "
        "reconnect with %ws connect URL -n ws"
    )


def test_interrupted_wait_keeps_the_connection(ws: Any, server: ThreadServer) -> None:
    sock = ws(f"connect {server.url}")
    interrupter = interrupt_when_blocked("wait")
    with pytest.raises(KeyboardInterrupt):
        ws("wait --timeout 60")
    interrupter.join(10)
    assert sock.state is ReadyState.OPEN
    ws("send after the interrupt")
    assert ws("wait") == "after the interrupt"
    assert ws("status")["state"] == "OPEN"


# -- close ---------------------------------------------------------------------------------
def test_close_waits_for_the_handshake(ws: Any, server: ThreadServer) -> None:
    sock = ws(f"connect {server.url}")
    assert ws("close") == CloseResult(1000, "")
    assert sock.state is ReadyState.CLOSED
    ws(f"connect {server.url}")
    assert ws("close 4000 see you later") == CloseResult(4000, "see you later")
    ws(f"connect {server.url}")
    assert ws("close going home") == CloseResult(1000, "going home")


def test_close_reason_is_kept_as_typed(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url}")
    assert ws('close 4000 lesson   over  "quoted"') == CloseResult(4000, 'lesson   over  "quoted"')
    ws(f"connect {server.url} -n a")
    ws(f"connect {server.url} -n b")
    # -n may come first or last; the current connection ('b') is left alone.
    assert ws("close -n a 4001 it's  over") == CloseResult(4001, "it's  over")
    ws(f"connect {server.url} -n a")
    assert ws("close 4002 done -n a") == CloseResult(4002, "done")
    assert ws("status -n b")["state"] == "OPEN"
    assert ws("close -n b 4003 -n is a word here") == CloseResult(4003, "-n is a word here")


@pytest.mark.parametrize("code", ["1000.5", "0x3e8", "4OO1", "1e3", "+1000.0"])
def test_close_code_must_be_a_whole_number(ws: Any, server: ThreadServer, code: str) -> None:
    sock = ws(f"connect {server.url}")
    assert usage(ws, f"close {code} lesson over") == (
        f"close code {code!r} is not a whole number; write a code such as 1000 or 4000, "
        "then the reason"
    )
    assert sock.state is ReadyState.OPEN


def test_close_all(ws: Any, server: ThreadServer) -> None:
    a = ws(f"connect {server.url} -n a")
    b = ws(f"connect {server.url} -n b")
    assert ws("close --all 1001 bye") == {
        "a": CloseResult(1001, "bye"),
        "b": CloseResult(1001, "bye"),
    }
    assert a.state is b.state is ReadyState.CLOSED
    assert ws("close --all") == {}


def test_close_user_mistakes(ws: Any, server: ThreadServer) -> None:
    assert usage(ws, "close") == "no connection yet; open one with %ws connect URL"
    ws(f"connect {server.url}")
    assert usage(ws, "close 999") == (
        "%ws close failed: [401] Parameter error: close code 999 is not allowed; "
        "use 1000–1003, 1007–1014 or 3000–4999"
    )
    assert usage(ws, "close --all -n ws") == "give either -n NAME or --all, not both"
    ws("close 1000 done")
    assert usage(ws, "close") == "'ws' is already closed (1000 'done'); nothing to close"


def test_unknown_name_lists_every_connection_with_its_state(ws: Any, server: ThreadServer) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ws(f"connect {server.url} -n done")
    ws("close -n done")
    usage(ws, f"connect ws://127.0.0.1:{port} -n failed")
    ws(f"connect {server.url} -n live")
    assert usage(ws, "wait -n nobody") == (
        "no connection named 'nobody' (this shell has 'done' CLOSED, 'failed' CLOSED, "
        "'live' OPEN); open it with %ws connect URL -n nobody"
    )


# -- status, list, log -----------------------------------------------------------------------
def test_status_and_list(ws: Any, server: ThreadServer) -> None:
    assert usage(ws, "status") == "no connection yet; open one with %ws connect URL"
    assert ws("list") == []
    ws(f"connect {server.url} -n a -p chat -H 'X-Lesson: 3'")
    ws("send hello")
    ws("wait")
    status = ws("status")
    assert status["name"] == "a" and status["current"] is True
    assert status["url"] == server.url
    assert status["state"] == "OPEN"
    assert status["protocol"] == "chat"
    assert status["header"] == {"X-Lesson": "3"}
    assert (status["messagesIn"], status["messagesOut"]) == (1, 1)
    assert (status["bytesIn"], status["bytesOut"]) == (5, 5)
    assert status["lastClose"] is None and status["lastError"] is None
    ws(f"connect {server.url} -n b")
    ws("close 4000 done -n a")
    rows = ws("list")
    assert [(r["name"], r["state"], r["current"]) for r in rows] == [
        ("a", "CLOSED", False),
        ("b", "OPEN", True),
    ]
    assert rows[0]["lastClose"] == {"code": 4000, "reason": "done"}
    assert ws("status -n a") == rows[0]


def test_log_records_with_direction_and_time(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url} -p chat")
    ws("send hi")
    ws("wait")
    ws("send --binary 0102")
    ws("wait")
    ws("close 1000 bye")
    records = ws("log")
    assert isinstance(records, LogView)
    got = [(r.kind, r.direction, r.data) for r in records]
    assert got[0] == ("connect", "=", server.url)
    assert got[1] == ("open", "=", "chat")
    assert got[2:6] == [
        ("message", ">", "hi"),
        ("message", "<", "hi"),
        ("message", ">", b"\x01\x02"),
        ("message", "<", b"\x01\x02"),
    ]
    assert [(r.kind, r.code, r.reason) for r in records[6:]] == [
        ("closing", 1000, "bye"),
        ("close", 1000, "bye"),
    ]
    times = [r.time for r in records]
    assert times == sorted(times)
    assert len(ws("log --last 2")) == 2
    text = _pretty(records)
    assert "> message 'hi'" in text and "< message b'\\x01\\x02'" in text
    assert "= close   1000 'bye'" in text
    rows = ws("log --json --last 4")
    assert [r["kind"] for r in rows] == ["message", "message", "closing", "close"]
    assert rows[0]["data"] == {"base64": base64.b64encode(b"\x01\x02").decode()}
    assert json.loads(_pretty(rows).splitlines()[-1])["code"] == 1000
    assert usage(ws, "log --last 0") == "--last must be 1 or more, not 0"


def test_log_is_bounded(ws: Any, server: ThreadServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import ohws_jupyter.jupyter.magics.named as magics_module

    monkeypatch.setattr(magics_module, "LOG_SIZE", 6)
    ws(f"connect {server.url}")
    for i in range(10):  # one at a time, so sends and echoes alternate in the log
        ws(f"send m{i}")
        assert ws("wait") == f"m{i}"
    assert [(r.direction, r.data) for r in ws("log")] == [
        (d, f"m{i}") for i in (7, 8, 9) for d in "><"
    ]
    code = ws("export arkts")  # %ws commands read the %ws log, bounded like it
    assert "// The log no longer reaches back to the connect: early sends are missing." in code
    assert 'await ws.send("m7");' in code and "m6" not in code


def _pretty(value: Any) -> str:
    from IPython.lib.pretty import pretty

    return pretty(value)


# -- masking ------------------------------------------------------------------------------
def test_credentials_are_sent_but_masked_everywhere(ws: Any, server: ThreadServer) -> None:
    secrets = (
        "-H 'Authorization: Bearer s3cr3t' -H 'Cookie: sid=s3cr3t' "
        "-H 'X-Class-Key: s3cr3t' -H 'X-Lesson: 3' --mask X-Class-Key"
    )
    ws(f"connect {server.url} -n probe {secrets}")
    ws("send -n probe headers")  # the server answers with the request headers it received
    received = json.loads(ws("wait -n probe"))
    assert received["Authorization"] == "Bearer s3cr3t"
    assert received["Cookie"] == "sid=s3cr3t"
    assert received["X-Class-Key"] == "s3cr3t"
    ws(f"connect {server.url} {secrets}")
    ws("send hello")
    ws("wait")
    status = ws("status")
    assert status["header"] == {
        "Authorization": "***",
        "Cookie": "***",
        "X-Class-Key": "***",
        "X-Lesson": "3",
    }
    shown = [
        repr(status),
        repr(ws("list")),
        _pretty(ws("log")),
        json.dumps(ws("log --json")),
        str(ws("export arkts")),
    ]
    for text in shown:
        assert "s3cr3t" not in text
    log_text = _pretty(ws("log"))
    assert "'Authorization': '***'" in log_text
    assert "'Sec-WebSocket-Accept': '***'" in log_text  # response headers of 'open'
    assert ws("log")[0].headers["X-Class-Key"] == "***"


def test_password_in_url_is_masked(ws: Any, server: ThreadServer) -> None:
    url = f"ws://student:pa55word@127.0.0.1:{server.port}"
    ws(f"connect {url}")
    masked = f"ws://student:***@127.0.0.1:{server.port}"
    assert ws("status")["url"] == masked
    assert ws("log")[0].data == masked
    code = str(ws("export arkts"))
    assert "pa55word" not in code and f'ws.connect("{_on_device(masked)}"' in code


# -- export arkts ---------------------------------------------------------------------------
def _on_device(url: str) -> str:
    """``url`` as the export writes it: a device cannot reach the notebook's 127.0.0.1."""
    return url.replace("127.0.0.1", "<your-server-host>")


def test_export_arkts_reproduces_the_connection(ws: Any, server: ThreadServer) -> None:
    ws(
        f"connect {server.url} -p chat -H 'Authorization: Bearer s3cr3t' -H 'X-Lesson: 3' "
        "--insecure --timeout 5"
    )
    ws('send say "hi"')
    ws("send --binary 00ff")
    ws("send", "第二\n")
    ws("wait --count 3")
    ws("close 4000 bye")
    code = ws("export arkts")
    assert code._repr_markdown_().startswith("```typescript\n")
    lines = code.splitlines()
    for expected in [
        "import webSocket from '@ohos.net.webSocket';",
        "import { BusinessError } from '@ohos.base';",
        "let ws = webSocket.createWebSocket();",
        "let header: Record<string, string> = {",
        '  "Authorization": "***", // masked: put the real value here',
        '  "X-Lesson": "3",',
        "let options: webSocket.WebSocketRequestOptions = {",
        "  header: header,",
        '  protocol: "chat",',
        "  skipServerCertVerification: true,",
        "// Not in the OHOS API, left out: openTimeout=5.0.",
        "ws.on('open', (err: BusinessError, value: Object) => {",
        "ws.on('message', (err: BusinessError, value: string | ArrayBuffer) => {",
        "ws.on('close', (err: BusinessError, value: webSocket.CloseResult) => {",
        "ws.on('error', (err: BusinessError) => {",
        f'ws.connect("{_on_device(server.url)}", options, '
        "(err: BusinessError, value: boolean) => {",
    ]:
        assert expected in lines, expected
    # The sends replay in order, then the close with its options.
    replay = [
        line.strip() for line in lines if line.startswith("  await ") or "closeOptions" in line
    ]
    assert replay == [
        'await ws.send("say \\"hi\\"");',
        "await ws.send(new Uint8Array([0x00, 0xff]).buffer);",
        'await ws.send("第二");',
        'let closeOptions: webSocket.WebSocketCloseOptions = { code: 4000, reason: "bye" };',
        "await ws.close(closeOptions);",
    ]
    assert "s3cr3t" not in code
    assert code.count("{") == code.count("}")


def test_export_of_a_plain_connection_has_no_options(ws: Any, server: ThreadServer) -> None:
    ws(f"connect {server.url}")
    code = ws("export arkts")
    assert "options" not in code
    assert "replay" not in code
    connect = f'ws.connect("{_on_device(server.url)}", (err: BusinessError, value: boolean) => {{'
    assert connect in code


def test_export_user_mistakes(ws: Any) -> None:
    assert usage(ws, "export arkts") == "no connection yet; open one with %ws connect URL"
    text = usage(ws, "export json")
    assert text.startswith("%ws export: argument FORMAT: invalid choice: 'json'")
    assert usage(ws, "export") == (
        "%ws export: the following arguments are required: FORMAT; see %ws help export"
    )


# -- serve and panel --------------------------------------------------------------------------
def test_serve_echo_then_stop(ws: Any) -> None:
    url = ws("serve")
    assert url.startswith("ws://127.0.0.1:")
    assert ws("serve") == url  # re-running the cell keeps the same server
    assert usage(ws, "serve --mode lab") == (
        f"a server in echo mode is already running at {url}; stop it first with %ws serve --stop"
    )
    assert usage(ws, "connect") == f"%ws connect needs a URL, e.g. %ws connect {url}"
    ws(f"connect {url}")
    ws("send ping")
    assert ws("wait") == "ping"
    assert ws("serve --stop") is None
    assert ws("wait close").code == 1001
    assert usage(ws, "serve --stop") == "no server is running; start one with %ws serve"


def test_serve_broadcast_and_lab(ws: Any) -> None:
    url = ws("serve --mode broadcast")
    ws(f"connect {url} -n a")
    ws(f"connect {url} -n b")
    ws("send -n a to everyone")
    assert ws("wait -n b") == "to everyone"
    assert ws("wait -n a") == "to everyone"
    ws("serve --stop")
    url = ws("serve --mode lab")
    ws(f"connect {url}")
    ws("send /close 4002 go away")
    assert ws("wait close") == CloseResult(4002, "go away")


def test_serve_on_a_busy_port(ws: Any, server: ThreadServer) -> None:
    text = usage(ws, f"serve --port {server.port}")
    assert text.startswith("%ws serve failed: [2302007]")


def test_panel_outside_jupyter_says_it_needs_a_front_end(ws: Any, server: ThreadServer) -> None:
    # A terminal shell has no kernel: the widget would print as a bare repr.
    ws(f"connect {server.url} -n p")
    assert usage(ws, "panel") == (
        "%ws panel needs a Jupyter front end (JupyterLab, Notebook, VS Code); "
        "in a terminal %ws log and %ws status show the same"
    )
    assert usage(ws, "panel -n nobody") == (
        "no connection named 'nobody' (this shell has 'p' OPEN); "
        "open it with %ws connect URL -n nobody"
    )


def test_server_panel_needs_a_server_and_a_front_end(ws: Any) -> None:
    assert usage(ws, "panel --server") == "no server is running; start one with %ws serve"
    assert usage(ws, "panel --server -n p") == "%ws panel takes -n NAME or --server, not both"
    ws("serve")
    assert usage(ws, "panel --server") == (
        "%ws panel needs a Jupyter front end (JupyterLab, Notebook, VS Code); "
        "in a terminal %ws log and %ws status show the same"
    )
    ws("serve --stop")
    assert usage(ws, "panel --server") == "no server is running; start one with %ws serve"


# -- state per shell ------------------------------------------------------------------------
def test_two_shells_keep_their_own_connections(ws: Any, server: ThreadServer) -> None:
    other = InteractiveShell()
    other.run_line_magic("load_ext", "ohws_jupyter")
    mine = ws(f"connect {server.url} -n same")
    theirs = other.run_line_magic("ws", f"connect {server.url} -n same")
    try:
        assert mine is not theirs
        assert mine.state is theirs.state is ReadyState.OPEN  # neither replaced the other
        other.run_line_magic("ws", "send from the other shell")
        assert other.run_line_magic("ws", "wait") == "from the other shell"
        assert usage(ws, "wait --timeout 0.05").startswith("no message arrived on 'same'")
    finally:
        other.run_line_magic("ws", "close --all")


def watch_wait(signal_line: str) -> str:
    """Code for the shell under test: runs ``signal_line`` once its main thread blocks in %ws wait.

    A test then interrupts exactly there, not in IPython's own code just before.
    """
    return (
        "import sys, threading, time\n"
        "def _watch():\n"
        "    main = threading.main_thread().ident\n"
        "    for _ in range(3000):\n"
        "        frame = sys._current_frames().get(main)\n"
        "        while frame is not None:\n"
        "            code = frame.f_code\n"
        "            if code.co_name == 'wait' and 'magics' in code.co_filename:\n"
        f"                {signal_line}\n"
        "                return\n"
        "            frame = frame.f_back\n"
        "        time.sleep(0.01)\n"
        "threading.Thread(target=_watch, daemon=True).start()\n"
    )


# -- a real kernel ------------------------------------------------------------------------------
def test_magics_in_a_real_kernel(kernel: Kernel, server: ThreadServer) -> None:
    assert kernel.run("%load_ext ohws_jupyter").reply["status"] == "ok"
    cell = kernel.run(f"sock = %ws connect {server.url} -p chat\nprint(sock.state.name)")
    assert cell.reply["status"] == "ok", cell.text
    assert cell.stdout == "OPEN\n"
    kernel.run("%ws send hi from the kernel")
    cell = kernel.run("got = %ws wait\nprint(repr(got))")
    assert cell.stdout == "'hi from the kernel'\n"
    cell = kernel.run("%ws status")
    assert "'state': 'OPEN'" in cell.text and "'protocol': 'chat'" in cell.text


def test_usage_error_in_a_kernel_has_no_traceback(kernel: Kernel, server: ThreadServer) -> None:
    kernel.run("%load_ext ohws_jupyter")
    cell = kernel.run("%ws wait -n nobody")
    assert cell.reply["status"] == "error"
    assert "no connection named 'nobody'" in cell.text
    assert "jupyter/magics/" not in cell.text and "Traceback" not in cell.text


def test_kernel_interrupt_during_wait_keeps_the_connection(
    kernel: Kernel, server: ThreadServer, tmp_path: Any
) -> None:
    kernel.run("%load_ext ohws_jupyter")
    assert kernel.run(f"%ws connect {server.url} -n lesson").reply["status"] == "ok"
    # The watcher touches a file once the cell blocks in %ws wait: an interrupt
    # that lands earlier would hit IPython's code, or the kernel itself.
    marker = tmp_path / "blocked"
    watch = watch_wait(f"open({str(marker)!r}, 'w').close()")
    msg_id = kernel.start(f"exec({watch!r})\n%ws wait -n lesson --timeout 60")
    wait_until(marker.exists, 30, "the cell to block in %ws wait")
    kernel.km.interrupt_kernel()
    cell = kernel.finish(msg_id)
    assert cell.reply["status"] == "error"
    assert cell.reply["ename"] == "Interrupted"  # a KeyboardInterrupt, shown as one line
    assert cell.reply["traceback"] == [
        "KeyboardInterrupt: %ws wait stopped; 'lesson' stays open and the next %ws wait "
        "still sees every message"
    ]
    kernel.run("%ws send -n lesson still open")
    cell = kernel.run("got = %ws wait -n lesson\nprint(repr(got))")
    assert cell.stdout == "'still open'\n", cell.text


def test_panel_in_a_kernel_is_a_widget(kernel: Kernel, server: ThreadServer) -> None:
    kernel.run("%load_ext ohws_jupyter")
    assert kernel.run(f"%ws connect {server.url} -n paneled").reply["status"] == "ok"
    cell = kernel.run("p = %ws panel\nprint(type(p).__name__, p.state)")
    assert cell.reply["status"] == "ok", cell.text
    assert cell.stdout == "WebSocketPanel OPEN\n"
    cell = kernel.run("%ws panel -n paneled")
    assert cell.reply["status"] == "ok", cell.text
    shown = [m["content"]["data"] for m in cell.outputs if m["msg_type"] == "execute_result"]
    assert shown and "application/vnd.jupyter.widget-view+json" in shown[0]


def test_panels_in_a_kernel_show_what_came_before(kernel: Kernel) -> None:
    """%ws panel replays the connection's history; %ws panel --server shows the
    %ws serve server with its client and the echo replies it sent."""
    kernel.run("%load_ext ohws_jupyter")
    cell = kernel.run("%ws panel --server")
    assert cell.reply["status"] == "error"
    assert (cell.reply["ename"], cell.reply["evalue"]) == (
        "UsageError",
        "no server is running; start one with %ws serve",
    )
    code = (
        "import time\n"
        "url = %ws serve\n"
        "%ws connect {url} -n early\n"
        "%ws send -n early before the panels\n"
        "%ws wait -n early\n"
        "sp = %ws panel --server\n"
        "cp = %ws panel -n early\n"
        "deadline = time.monotonic() + 10\n"
        "while len(cp.entries) < 4 and time.monotonic() < deadline: time.sleep(0.02)\n"
        "print(type(sp).__name__, sp.url == url, sp.state)\n"
        "row = sp.clients[0]\n"
        "print(row['state'], row['messagesIn'], row['messagesOut'])\n"
        "print([(e['kind'], e['dir'], e.get('text')) for e in cp.entries])"
    )
    cell = kernel.run(code)
    assert cell.reply["status"] == "ok", cell.text
    lines = cell.stdout.splitlines()
    assert lines[0] == "WebSocketServerPanel True RUNNING"
    assert lines[1] == "open 1 1"  # the echo reply counted as out
    assert lines[2].startswith("[('connect', '=', 'ws://127.0.0.1:")
    assert lines[2].endswith(
        "('open', '=', ''), ('message', '>', 'before the panels'), "
        "('message', '<', 'before the panels')]"
    )
    cell = kernel.run("%ws panel --server")
    assert cell.reply["status"] == "ok", cell.text
    shown = [m["content"]["data"] for m in cell.outputs if m["msg_type"] == "execute_result"]
    assert shown and "application/vnd.jupyter.widget-view+json" in shown[0]
    kernel.run("%ws close -n early\n%ws serve --stop")


# -- terminal IPython ---------------------------------------------------------------------------
BLOCKED_TEXT = "BLOCKED IN WAIT"
BLOCKED = f"print({BLOCKED_TEXT!r}, flush=True)"


def test_ctrl_c_during_wait_in_terminal_ipython_is_one_quiet_line() -> None:
    import os
    import signal
    import subprocess

    root = ROOT
    proc = subprocess.Popen(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner",
         "--colors=NoColor", "--HistoryManager.enabled=False"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    try:
        assert proc.stdin is not None and proc.stdout is not None
        for line in ["%load_ext ohws_jupyter", "url = %ws serve", "%ws connect $url",
                     f"exec({watch_wait(BLOCKED)!r})", "%ws wait --timeout 60"]:  # fmt: skip
            proc.stdin.write(line + "\n")
        proc.stdin.flush()
        before = []
        for line in proc.stdout:  # ends at EOF if IPython dies
            before.append(line)
            if BLOCKED_TEXT in line:
                break
        assert BLOCKED_TEXT in "".join(before), "".join(before)
        proc.send_signal(signal.SIGINT)
        proc.stdin.write("%ws send after the interrupt\ngot = %ws wait\nprint('GOT', repr(got))\n")
        proc.stdin.write("exit\n")
        proc.stdin.close()
        proc.wait(60)  # the output is a few lines: the pipe cannot fill up
        after = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, after
    lines = [line.split("]: ", 1)[-1] for line in after.splitlines()]
    assert (
        "KeyboardInterrupt: %ws wait stopped; 'ws' stays open and the next %ws wait "
        "still sees every message"
    ) in lines, after
    assert "Traceback" not in after and "jupyter/magics/" not in after, after
    assert "GOT 'after the interrupt'" in lines, after


def test_connect_no_compression_offers_no_permessage_deflate(ws: Any, server: ThreadServer) -> None:
    deflated = ws(f"connect {server.url} -n deflated")
    assert "permessage-deflate" in deflated.extensions
    plain = ws(f"connect {server.url} -n plain --no-compression")
    assert plain.extensions == ""
    assert "Sec-WebSocket-Extensions" not in plain.requestHeaders
    ws("send -n plain hello")
    assert ws("wait -n plain") == "hello"
