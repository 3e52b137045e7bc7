"""``record.export``: the text of each copy-as-code format, from a transcript made here.

The exported programs are run against real servers in the integration tier
(``tests/integration/record/test_export.py``); here the text itself is checked.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from ohws_jupyter import BusinessError, Record
from ohws_jupyter.record import Code, Transcript, copy_as_code
from ohws_jupyter.record.export import FORMATS

pytestmark = pytest.mark.usefixtures("fresh_profile")  # the ArkTS comments are the seed's

T0 = 1_700_000_000.0
SENT = ['hello "world"\n', b"\x00\xff", "plain"]
SESSION = Transcript(
    [
        Record(
            T0,
            "connect",
            "=",
            "ws://alice:pw@127.0.0.1:8765/chat?token=t0k",
            headers={"Authorization": "Bearer xyz", "X-Room": "7"},
        ),
        Record(T0 + 0.01, "open", "=", "chat"),
        Record(T0 + 0.02, "message", ">", SENT[0], pieces=1),
        Record(T0 + 0.03, "message", "<", "hello", pieces=1),
        Record(T0 + 0.04, "message", ">", SENT[1], pieces=1),
        Record(T0 + 0.05, "message", ">", SENT[2], pieces=1),
        Record(T0 + 0.06, "closing", ">", code=4000, reason="done"),
        Record(T0 + 0.07, "close", "=", code=4000, reason="done"),
    ]
)
MASKED_URL = "ws://alice:***@127.0.0.1:8765/chat?token=***"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_format_carries_a_credential_and_each_flags_the_masked_ones(fmt: str) -> None:
    code = copy_as_code(SESSION, fmt)
    assert isinstance(code, Code) and code.language == FORMATS[fmt]
    assert ":pw@" not in code and "t0k" not in code and "Bearer xyz" not in code
    if fmt == "arkts":  # 127.0.0.1 on a device is the device itself: the host is left to fill in
        assert MASKED_URL.replace("127.0.0.1", "<your-server-host>") in code
    else:
        assert MASKED_URL in code
    assert "masked" in code


def test_the_python_export_holds_exactly_what_was_sent() -> None:
    code = copy_as_code(SESSION, "python")
    compile(code, "export.py", "exec")
    assert code.rstrip().endswith("asyncio.run(main())")
    namespace: dict[str, Any] = {}
    exec(code.rstrip().removesuffix("asyncio.run(main())"), namespace)  # everything but the run
    assert namespace["URL"] == MASKED_URL
    assert namespace["HEADERS"] == {"Authorization": "***", "X-Room": "7"}
    assert namespace["MESSAGES"] == SENT
    assert namespace["REPLIES"] == 1
    assert "subprotocols=['chat']" in code and "await ws.close(4000, 'done')" in code


def test_the_javascript_export_uses_the_browser_api() -> None:
    code = copy_as_code(SESSION, "js")
    assert f'new WebSocket("{MASKED_URL}", ["chat"]);' in code
    assert '  "hello \\"world\\"\\n",' in code
    assert "  new Uint8Array([0x00, 0xff])," in code
    assert 'ws.close(4000, "done")' in code
    assert "//   Authorization: ***  (masked: put the real value here)" in code


def test_the_wscat_command_line_says_what_it_cannot_send() -> None:
    code = copy_as_code(SESSION, "wscat")
    lines = [x.rstrip("\\") for x in code.splitlines() if x.startswith(("wscat", "  "))]
    assert shlex.split(" ".join(lines)) == [
        "wscat", "-c", MASKED_URL, "-H", "Authorization: ***", "-H", "X-Room: 7",
        "-s", "chat", "-x", "plain", "-w", "2",
    ]  # fmt: skip
    assert "# not sent: message 1 has a line break; wscat sends one line of text" in code
    assert "# not sent: message 2 is binary; wscat sends one line of text" in code
    assert "# wscat closes with 1000; the notebook closed with 4000" in code


def test_the_arkts_export_is_ohos_code() -> None:
    code = copy_as_code(SESSION, "arkts", name="lesson")
    assert "import webSocket from '@ohos.net.webSocket';" in code
    assert 'await ws.send("hello \\"world\\"\\n");' in code
    assert "await ws.send(new Uint8Array([0x00, 0xff]).buffer);" in code
    assert '{ code: 4000, reason: "done" }' in code
    assert "// - fill in the masked values (***): the Authorization header, the password" in code
    assert code.count("{") == code.count("}")


def test_code_shows_as_a_fence_no_message_can_close() -> None:
    code = Code("x = '```'\n", "python")
    assert code._repr_markdown_() == "````python\nx = '```'\n````"
    assert Code("y = 1", "python")._repr_markdown_() == "```python\ny = 1\n```"


def test_an_unknown_format_is_401() -> None:
    with pytest.raises(BusinessError) as info:
        copy_as_code(SESSION, "java")
    assert info.value.code == 401
    assert info.value.message == (
        "Parameter error: cannot export as 'java'; use one of js, python, wscat, websocat, arkts"
    )
