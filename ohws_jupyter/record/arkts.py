"""ArkTS code that reproduces a connection with the OHOS ``@ohos.net.webSocket`` API.

``%ws export arkts`` turns what a notebook did (the URL, the request options,
the messages sent and the close) into code a HarmonyOS app can paste. The
calls follow the OHOS reference: ``webSocket.createWebSocket()``, ``on('open')``
and friends, ``connect(url, options, callback)``, ``send(data)`` and
``close(options)``. The code opens with what it needs before it runs on a
device: the ``ohos.permission.INTERNET`` entry of ``module.json5``, the
server's host where the notebook used its own (a loopback or unspecified
address, ``localhost``: a device cannot reach those, so the host becomes
:data:`HOST_PLACEHOLDER`), and each masked value. Credentials never reach
the code: masked header values and URL parts stay ``***``, each one flagged
to fill in. A line that a device runs differently from this notebook's
default (``seed``) profile gets a ``// On a device: ...`` comment above it
(see ``docs/porting.md``).

Pure text generation, no I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import urllib.parse
from collections.abc import Iterable

from ..core.device import CLOSE_NORMAL, ping_values
from ..core.events import Record
from ..core.masking import mask_headers, mask_url
from ..core.options import HttpProxy, WebSocketRequestOptions

__all__ = ["HOST_PLACEHOLDER", "PERMISSION", "arkts_code", "mask_url"]

#: The host written in place of one that only the notebook's machine can reach.
HOST_PLACEHOLDER = "<your-server-host>"
#: The permission an app declares in its ``module.json5`` to use the network.
PERMISSION = "ohos.permission.INTERNET"

_MASK = "***"
_FILL_IN = "// masked: put the real value here"
# OHOS defaults of the request options; a field equal to its default is left out.
_OHOS_DEFAULTS = {"pingInterval": 30, "pongTimeout": 30}
# Our extensions of WebSocketRequestOptions: not in OHOS, so only named in a comment.
_EXTENSIONS = (
    "wholeMessages",
    "openTimeout",
    "closeTimeout",
    "maxMessageSize",
    "maxQueuedMessages",
    "maxQueuedBytes",
    "compression",
    "reconnect",
)
_BYTES_PER_LINE = 16
_ON_DEVICE = "// On a device: "


def _js(text: str) -> str:
    """A JavaScript string literal for ``text``."""
    # JSON is valid JS except for two line separators that old engines reject.
    return (
        json.dumps(text, ensure_ascii=False)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _buffer(data: bytes, indent: str) -> str:
    """An ``ArrayBuffer`` expression holding ``data``."""
    if not data:
        return "new ArrayBuffer(0)"
    rows = [
        ", ".join(f"0x{b:02x}" for b in data[i : i + _BYTES_PER_LINE])
        for i in range(0, len(data), _BYTES_PER_LINE)
    ]
    if len(rows) == 1:
        return f"new Uint8Array([{rows[0]}]).buffer"
    inner = f",\n{indent}  ".join(rows)
    return f"new Uint8Array([\n{indent}  {inner},\n{indent}]).buffer"


def _local_name(host: str) -> str | None:
    """How to name ``host`` if it is the machine itself (a device reaches itself there), or None."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost"
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    address = getattr(address, "ipv4_mapped", None) or address
    return str(address) if address.is_loopback or address.is_unspecified else None


def _device_url(url: str) -> tuple[str, str | None]:
    """``url`` masked, a local host replaced by :data:`HOST_PLACEHOLDER`; and that host's name."""
    masked = mask_url(url) or ""
    try:
        parts = urllib.parse.urlsplit(masked)
    except ValueError:
        return masked, None
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    name = _local_name(host) if host else None
    if name is None:
        return masked, None
    netloc = f"{userinfo}{at}{HOST_PLACEHOLDER}{':' + port if port else ''}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), name


def _masked_values(url: str, opts: WebSocketRequestOptions) -> list[str]:
    """What the code leaves masked: header values, the URL's password and token values."""
    found = [
        f"the {name} header"
        for name, value in mask_headers(opts.header, opts.sensitiveHeaders).items()
        if value == _MASK
    ]
    if opts.clientCert is not None and opts.clientCert.keyPassword:
        found.append("the client key's password")
    parts = urllib.parse.urlsplit(url)
    if f":{_MASK}@" in parts.netloc or parts.netloc.startswith(f"{_MASK}@"):
        found.append("the password in the URL")
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if value == _MASK:
            found.append(f"the {key} in the URL")
    return found


def _before_device(host: str | None, masked: list[str]) -> list[str]:
    """The opening comment: what the code needs before it runs on a device."""
    out = [
        "//",
        "// Before it runs on a device:",
        "// - declare the network permission in the module's module.json5",
        "//   (e.g. entry/src/main/module.json5):",
        '//     "module": {',
        '//       "requestPermissions": [',
        f'//         {{ "name": "{PERMISSION}" }}',
        "//       ]",
        "//     }",
    ]
    if host is not None:
        out.append(
            f"// - put your server's host in place of {HOST_PLACEHOLDER} in the URL that"
            " connect() is given below."
        )
    if masked:
        out.append(f"// - fill in the masked values ({_MASK}): {', '.join(masked)}.")
    return out


def _option_lines(opts: WebSocketRequestOptions) -> tuple[list[str], list[str], list[str]]:
    """Lines before the options, the options' fields, and notes; all masked."""
    before: list[str] = []
    fields: list[str] = []
    notes: list[str] = []
    if opts.header:
        masked = mask_headers(opts.header, opts.sensitiveHeaders)
        if any(name != name.lower() for name in masked):
            before.append(f"{_ON_DEVICE}header names are sent in lowercase.")
        if any(not value for value in masked.values()):
            before.append(f"{_ON_DEVICE}a header with an empty value is not sent.")
        before.append("let header: Record<string, string> = {")
        for name, value in masked.items():
            note = f" {_FILL_IN}" if value == _MASK else ""
            before.append(f"  {_js(name)}: {_js(value)},{note}")
        before.append("};")
        fields.append("  header: header,")
    if opts.caPath:
        fields.append(f"  caPath: {_js(opts.caPath)},")
    if opts.clientCert is not None:
        cert = opts.clientCert
        fields.append("  clientCert: {")
        fields.append(f"    certPath: {_js(cert.certPath)},")
        fields.append(f"    keyPath: {_js(cert.keyPath)},")
        if cert.keyPassword:
            fields.append(f"    keyPassword: {_js(_MASK)}, {_FILL_IN}")
        fields.append("  },")
    if isinstance(opts.proxy, HttpProxy):
        hosts = ", ".join(_js(h) for h in opts.proxy.exclusionList)
        fields.append(
            f"  proxy: {{ host: {_js(opts.proxy.host)}, port: {opts.proxy.port}, "
            f"exclusionList: [{hosts}] }} as connection.HttpProxy,"
        )
        before.insert(0, "import connection from '@ohos.net.connection';")
    elif opts.proxy != "system":
        fields.append(f"  proxy: {_js(opts.proxy)},")
    if opts.protocols:
        fields.append(f"  protocol: {_js(', '.join(opts.protocols))},")
    if opts.skipServerCertVerification:
        fields.append("  skipServerCertVerification: true,")
    if opts.supportOriginPort:
        fields.append("  supportOriginPort: true,")
    ping, pong = ping_values(opts.pingInterval, opts.pongTimeout)
    clamped = {"pingInterval": ping, "pongTimeout": pong}
    for name, default in _OHOS_DEFAULTS.items():
        value = getattr(opts, name)
        if value != default:
            if clamped[name] != value:
                fields.append(f"  {_ON_DEVICE}{name} becomes {clamped[name]}.")
            fields.append(f"  {name}: {value:g},")
    defaults = {f.name: f for f in dataclasses.fields(WebSocketRequestOptions)}
    for name in _EXTENSIONS:
        value = getattr(opts, name)
        if value != defaults[name].default:
            notes.append(f"{name}={value!r}")
    return before, fields, notes


def _close_notes(code: int | None, reason: str | None) -> list[str]:
    """Comments for a close that a device would send differently."""
    notes = []
    if code is not None and not 1000 <= code <= 1015:
        notes.append(f"  {_ON_DEVICE}a code outside 1000–1015 is sent as 1000.")
    if not reason:
        notes.append(f"  {_ON_DEVICE}an empty reason is sent as '{CLOSE_NORMAL}'.")
    return notes


def arkts_code(
    url: str, options: WebSocketRequestOptions | None, records: Iterable[Record], name: str = ""
) -> str:
    """ArkTS code that connects to ``url`` with ``options`` and replays the sends.

    Args:
        url: The WebSocket URL (a password in it is masked).
        options: The request options of the connection, or None.
        records: The connection's records (``WebSocket.watch``); the sends and the
            close of the last connect are replayed in order.
        name: The connection's name, for the heading comment.
    """
    opts = options or WebSocketRequestOptions()
    records = list(records)
    starts = [i for i, r in enumerate(records) if r.kind == "connect"]
    replay = records[starts[-1] + 1 :] if starts else records
    before, fields, notes = _option_lines(opts)
    imports = [line for line in before if line.startswith("import ")]
    before = [line for line in before if not line.startswith("import ")]

    url, local_host = _device_url(url)
    title = f" '{name}'" if name else ""
    out = [
        f"// Reproduces the WebSocket connection{title} made in a notebook with %ws.",
        *_before_device(local_host, _masked_values(url, opts)),
        "import webSocket from '@ohos.net.webSocket';",
        "import { BusinessError } from '@ohos.base';",
        *imports,
        "",
        "let ws = webSocket.createWebSocket();",
    ]
    if fields:
        out += [*before, "let options: webSocket.WebSocketRequestOptions = {", *fields, "};"]
    if notes:
        out.append(f"// Not in the OHOS API, left out: {', '.join(notes)}.")
    if not starts:
        out.append("// The log no longer reaches back to the connect: early sends are missing.")

    steps: list[str] = []
    for r in replay:
        if r.kind == "message" and r.direction == ">":
            if isinstance(r.data, str):
                steps.append(f"  await ws.send({_js(r.data)});")
            else:
                steps.append(f"  await ws.send({_buffer(bytes(r.data), '  ')});")
        elif r.kind == "closing" and r.direction == ">":
            steps.extend(_close_notes(r.code, r.reason))
            steps.append(
                "  let closeOptions: webSocket.WebSocketCloseOptions = "
                f"{{ code: {r.code}, reason: {_js(r.reason or '')} }};"
            )
            steps.append("  await ws.close(closeOptions);")
            break
    if steps:
        out += ["", "async function replay(): Promise<void> {", *steps, "}"]

    out += [
        "",
        "ws.on('open', (err: BusinessError, value: Object) => {",
        "  console.info('on open, status: ' + JSON.stringify(value));",
    ]
    if steps:
        out += [
            "  replay().catch((e: BusinessError) => {",
            "    console.error('send fail, err: ' + JSON.stringify(e));",
            "  });",
        ]
    out += [
        "});",
        "ws.on('message', (err: BusinessError, value: string | ArrayBuffer) => {",
        "  if (typeof value === 'string') {",
        "    console.info('on message, message: ' + value);",
        "  } else {",
        "    console.info('on message, ' + value.byteLength + ' bytes');",
        "  }",
        "});",
        "ws.on('close', (err: BusinessError, value: webSocket.CloseResult) => {",
        "  console.info('on close, code is ' + value.code + ', reason is ' + value.reason);",
        "});",
        "ws.on('error', (err: BusinessError) => {",
        "  console.error('on error, error: ' + JSON.stringify(err));",
        "});",
    ]
    if local_host is not None:
        out += [
            f"// {local_host} was the notebook's own machine; on a device it is the device itself.",
            "// Put the name or address of your server, as the device reaches it, in place of",
            f"// {HOST_PLACEHOLDER}.",
        ]
    if _MASK in url:
        out.append(f"// masked: put the real values in place of {_MASK} in the URL.")
    out += [
        f"ws.connect({_js(url)}{', options' if fields else ''}, "
        "(err: BusinessError, value: boolean) => {",
        "  if (!err) {",
        "    console.info('connect success');",
        "  } else {",
        "    console.error('connect fail, err: ' + JSON.stringify(err));",
        "  }",
        "});",
    ]
    return "\n".join(out) + "\n"
