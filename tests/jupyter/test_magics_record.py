"""The record/replay/check ``%ws`` commands, in a real IPython shell and a real kernel.

The commands are the ones the ``%ws`` router registers (``@command`` in
``jupyter/magics/record.py`` and ``connection.py``): nothing is patched in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from ohws_jupyter.client.reconnect import reconnector_of
from ohws_jupyter.core.options import ReconnectPolicy
from ohws_jupyter.jupyter import magics as router
from ohws_jupyter.jupyter.magics import WebSocketMagics
from ohws_jupyter.jupyter.magics.connection import parse_reconnect
from ohws_jupyter.record.transcript import Transcript
from tests.helpers import echo_handler, running_server
from tests.helpers.kernel import Kernel

TIMEOUT = 10
SECRET = "Bearer s3cret-value"


@pytest.fixture
def lab(ws: Any) -> str:
    url = ws("serve --mode lab")
    ws(f"connect {url} -H 'Authorization: {SECRET}'")
    return url


def usage(run: Any, line: str) -> str:
    with pytest.raises(UsageError) as info:
        run(line)
    return str(info.value)


def test_the_router_lists_and_helps_every_new_command(
    ws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("replay", "expect", "request", "export", "log", "connect"):
        assert name in router.COMMANDS
    ws("help")
    overview = capsys.readouterr().out
    assert "  replay   Send a transcript's messages again and compare the replies" in overview
    ws("help log")
    assert "--save FILE" in capsys.readouterr().out
    ws("help connect")
    assert "--reconnect [SPEC]" in capsys.readouterr().out


def test_log_save_picks_the_format_by_suffix(
    ws: Any, lab: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws("send hello")
    ws("expect hello")
    capsys.readouterr()
    har, jsonl = tmp_path / "s.har", tmp_path / "s.jsonl"
    ws(f"log --save {har}")
    assert capsys.readouterr().out.strip() == f"saved 4 records of 'ws' to {har} (HAR)"
    ws(f"log --save {jsonl}")
    assert json.loads(har.read_text())["log"]["version"] == "1.2"
    from_har, from_jsonl = Transcript.load(har), Transcript.load(jsonl)
    assert [(r.direction, r.kind) for r in from_har] == [(r.direction, r.kind) for r in from_jsonl]
    for path in (har, jsonl):
        assert "s3cret" not in path.read_text()
        assert [r.data for r in Transcript.load(path).sent] == ["hello"]
    assert usage(ws, f"log --save {tmp_path / 's.txt'}").startswith(
        "%ws log --save: [401] Parameter error: cannot tell the format of"
    )
    assert ws("log --last 1")[0].kind == "message"  # without --save, the log as before


def test_expect_prints_one_line_or_raises(
    ws: Any, lab: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ws("send /text 5")
    ws('send {"type": "joined", "room": 1}')
    ws("expect abcde")
    ws("""expect --json '{"type": "joined"}' --label 'joined the room'""")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("✓ expect 'abcde' on 'ws': 'abcde' (")
    assert out[1].startswith("""✓ joined the room on 'ws': '{"type": "joined", "room": 1}' (""")
    ws("send score=42")
    ws("expect --regex 'score=\\d+'")
    assert capsys.readouterr().out.startswith("✓ expect a message matching /score=\\d+/")
    # Each message counts once: the matched ones are not found again.
    assert usage(ws, "expect abcde --timeout 0.3") == (
        "✗ expect 'abcde' on 'ws': expected 'abcde' within 0.3 s, nothing received"
    )
    ws("send other")
    assert usage(ws, 'expect --json \'{"type": "left"}\' --timeout 0.3') == (
        '✗ expect JSON containing {"type": "left"} on \'ws\': expected JSON containing '
        '{"type": "left"} within 0.3 s, last received \'other\''
    )


def test_expect_on_a_closed_connection_looks_at_what_came(ws: Any, lab: str) -> None:
    ws("send bye")
    # The echo must be in before the close: a server that reads the close frame in
    # the same read as 'bye' may no longer answer it.
    assert ws("wait") == "bye"
    ws("close")
    assert usage(ws, "expect nope") == (
        "✗ expect 'nope': expected 'nope', but 'ws' is closed; last received 'bye'"
    )
    ws("expect bye")  # it did come before the close


def test_expect_mistakes(ws: Any, lab: str) -> None:
    assert usage(ws, "expect") == ("%ws expect needs MATCH, e.g. %ws expect hello or --json {...}")
    assert usage(ws, "expect --json --regex x") == "give either --json or --regex, not both"
    assert usage(ws, "expect --json [1]") == (
        '--json: JSON to expect must be an object such as {"type": "joined"}'
    )
    assert usage(ws, "expect --json {oops") == (
        "--json: not valid JSON: Expecting property name enclosed in double quotes "
        '(column 2); write an object such as {"type": "joined"}'
    )
    assert usage(ws, "expect --regex (") == (
        "--regex: '(' is not a regular expression: missing ), unterminated subpattern at position 0"
    )
    assert usage(ws, "expect x --timeout 0") == "--timeout must be more than 0 seconds, not 0"


def test_request_pairs_the_reply(ws: Any, lab: str) -> None:
    reply = ws("""request '{"op": "add", "id": 41}'""")
    assert json.loads(reply) == {"op": "add", "id": 41}
    # The JSON may be typed as it is, quotes and spaces kept (no shell quoting needed).
    bare = ws("""request {"op": "add", "id": 42, "note": "it's fine"} --timeout 5""")
    assert json.loads(bare) == {"op": "add", "id": 42, "note": "it's fine"}
    auto = json.loads(ws("""request '{"op": "ping"}'"""))
    assert auto["op"] == "ping" and isinstance(auto["id"], int)
    assert usage(ws, "request hello") == (
        '%ws request needs JSON (Expecting value at column 1), e.g. %ws request {"op": "ping"}'
    )
    assert usage(ws, "request '[1]'") == ('%ws request needs a JSON object such as {"op": "ping"}')
    ws("close")
    assert usage(ws, "request '{}'") == (
        "cannot send a request: 'ws' is not open; connect with %ws connect URL -n ws"
    )


def test_request_times_out_on_a_silent_server(ws: Any) -> None:
    async def silent(conn: Any) -> None:
        async for _ in conn:
            pass

    with running_server(silent) as server:
        ws(f"connect {server.url} -n quiet")
        assert usage(ws, """request '{"id": 7}' --timeout 0.3""") == (
            "%ws request on 'quiet': expected a reply with id=7 within 0.3 s, nothing received"
        )


def test_export_every_format(ws: Any, lab: str) -> None:
    ws("send hello")
    for fmt in ("js", "python", "wscat", "websocat", "arkts"):
        code = ws(f"export {fmt}")
        assert "hello" in code and "s3cret" not in code and "***" in code, fmt
    assert usage(ws, "export curl").startswith("%ws export: argument FORMAT: invalid choice")


def test_replay_passes_then_fails_on_a_difference(
    ws: Any, lab: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws("send /text 8")
    ws("expect abcdefgh")
    ws("close 4000 done")
    path = tmp_path / "lab.jsonl"
    ws(f"log --save {path}")
    capsys.readouterr()
    assert ws(f"replay {path} -H 'Authorization: {SECRET}'") is None
    out = capsys.readouterr().out
    assert out.splitlines()[-1].endswith("all 3 steps as recorded")
    changed = tmp_path / "changed.jsonl"
    changed.write_text(path.read_text().replace("/text 8", "/text 9"))
    assert usage(ws, f"replay {changed} --timing fast") == (
        "%ws replay: 1 of 3 steps differ from the recording (the ✗ rows above)"
    )
    table = capsys.readouterr().out.splitlines()
    assert table[2].startswith("  2  <    'abcdefgh'") and table[2].endswith("✗")
    assert usage(ws, "replay") == "%ws replay needs a transcript file, e.g. %ws replay session.har"
    assert usage(ws, f"replay {tmp_path / 'none.har'}").startswith(
        "%ws replay: [401] Parameter error: cannot read the transcript"
    )


def test_connect_with_reconnect(ws: Any, magics: WebSocketMagics) -> None:
    with running_server(echo_handler) as server:
        client = ws(f"connect {server.url} -n flaky --reconnect 3")
        reconnector = reconnector_of(client)
        assert reconnector is not None and reconnector.policy == ReconnectPolicy(attempts=3)
        other = ws(
            f"""connect {server.url} -n tuned --reconnect '{{"minDelay": 0.1, "maxDelay": 1}}'"""
        )
        assert reconnector_of(other).policy == ReconnectPolicy(minDelay=0.1, maxDelay=1)
        plain = ws(f"connect {server.url} -n plain")
        assert reconnector_of(plain) is None
        assert usage(ws, f"connect {server.url} --reconnect '{{\"attempts\": 0}}'") == (
            "--reconnect: [401] Parameter error: reconnect attempts must be 1 or more, not 0"
        )
        assert usage(ws, f"connect {server.url} --reconnect soon").startswith(
            "--reconnect takes nothing, a number of attempts, or a JSON object"
        )
    assert parse_reconnect("") is True and parse_reconnect("5") == {"attempts": 5}


def test_commands_can_be_called_directly(magics: WebSocketMagics, tmp_path: Path) -> None:
    """Each command is a function of (magics, parsed args, cell), as the router calls it."""
    args = router.COMMANDS["replay"].parser.parse_args([])
    with pytest.raises(UsageError):
        router.COMMANDS["replay"](magics, args, None)
    with pytest.raises(UsageError) as info:
        router.COMMANDS["expect"].parser.parse_args(["--timeout", "soon"])
    assert "argument --timeout: invalid float value: 'soon'" in str(info.value)


# -- a real kernel ------------------------------------------------------------------------------
REGISTER = "%load_ext ohws_jupyter\n"


def run_cell(kernel: Kernel, code: str) -> tuple[str, list[dict[str, Any]]]:
    """Run ``code``; its reply status and the content of its stream, error and result outputs."""
    cell = kernel.run(code)
    shown = ("stream", "error", "execute_result")
    return cell.status, [m["content"] for m in cell.outputs if m["msg_type"] in shown]


def test_expect_in_a_kernel_shows_one_line_each_way(kernel: Kernel) -> None:
    assert run_cell(kernel, REGISTER)[0] == "ok"
    assert run_cell(kernel, "url = %ws serve --mode lab\n%ws connect $url")[0] == "ok"
    status, ok = run_cell(kernel, "%ws send hello\n%ws expect hello")
    assert status == "ok"
    assert ok[-1]["text"].startswith("✓ expect 'hello' on 'ws': 'hello' (")
    # A failed check fails the cell (nbclient stops there) with one line, no traceback.
    status, bad = run_cell(kernel, "%ws expect nope --timeout 0.3")
    assert status == "error"
    text = "".join(o.get("text", "") for o in bad)
    assert text == (
        "UsageError: ✗ expect 'nope' on 'ws': expected 'nope' within 0.3 s, nothing received\n"
    )
