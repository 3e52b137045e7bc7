"""Errors of the OHOS WebSocket API.

Every failure the API reports is a :class:`BusinessError` with an OHOS error
code; nothing else escapes ``connect``/``send``/``close``::

    Exception
     └── BusinessError            .code, .message, .data
          └── LoopThreadError     (also a RuntimeError) blocking call on the I/O thread

The message starts with the OHOS text for the code and goes on with what was
wrong and what to do: ``"Parameter error: close code 999 is not allowed; ..."``.
Under the ``device`` profile (:mod:`ohws_jupyter.core.profile`) the message is the
device's own text, exactly (``"Websocket connection already exist"``), so code
that compares it ports; what was wrong and what to do moves to ``.hint``.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = [
    "CERT_FILE_MISSING",
    "CODE_TEXT",
    "CONNECTION_ERROR",
    "CONNECTION_EXISTS",
    "CONNECTION_NOT_FOUND",
    "DEVICE_TEXT",
    "DOMAIN_NOT_ALLOWED",
    "PARAMETER_ERROR",
    "PERMISSION_DENIED",
    "PORT_IN_USE",
    "SEND_FAILED",
    "SERVER_ADDRESS_ERROR",
    "SERVER_PORT_ERROR",
    "UNKNOWN_ERROR",
    "URL_ERROR",
    "BusinessError",
    "LoopThreadError",
    "use_device_texts",
]

PARAMETER_ERROR = 401
PERMISSION_DENIED = 201
CONNECTION_ERROR = 200
URL_ERROR = 2302001
CERT_FILE_MISSING = 2302002
CONNECTION_EXISTS = 2302003
SERVER_ADDRESS_ERROR = 2302004
SERVER_PORT_ERROR = 2302005
CONNECTION_NOT_FOUND = 2302006
PORT_IN_USE = 2302007
DOMAIN_NOT_ALLOWED = 2302998
UNKNOWN_ERROR = 2302999
#: Device profile: a send that finds no open connection (the device's code).
SEND_FAILED = -1

CODE_TEXT: dict[int, str] = {
    PARAMETER_ERROR: "Parameter error",
    PERMISSION_DENIED: "Permission denied",
    CONNECTION_ERROR: "Websocket connection error",
    URL_ERROR: "Websocket url error",
    CERT_FILE_MISSING: "Websocket certificate file does not exist",
    CONNECTION_EXISTS: "Websocket connection already exists",
    SERVER_ADDRESS_ERROR: "Can't listen on the given address",
    SERVER_PORT_ERROR: "Can't listen on the given port",
    CONNECTION_NOT_FOUND: "Websocket connection does not exist",
    PORT_IN_USE: "Port already in use",
    DOMAIN_NOT_ALLOWED: "It is not allowed to access this domain",
    UNKNOWN_ERROR: "Websocket Unknown Other Error",
    SEND_FAILED: "Websocket send failed",
}

#: The device's own message of each code, as its netstack builds the error
#: (``constant.h`` and the contexts' ``GetErrorMessage``). A failed send there
#: carries code -1 with the text of 2302999: its message lookup falls back.
DEVICE_TEXT: dict[int, str] = {
    PARAMETER_ERROR: "Parameter error",
    PERMISSION_DENIED: "Permission denied",
    URL_ERROR: "Websocket url error",
    CERT_FILE_MISSING: "Websocket certificate file does not exist",
    CONNECTION_EXISTS: "Websocket connection already exist",
    SERVER_ADDRESS_ERROR: "Can't listen to the given NIC",
    SERVER_PORT_ERROR: "Can't listen to the given Port",
    CONNECTION_NOT_FOUND: "websocket connection does not exist",
    PORT_IN_USE: "Websocket port already occupied",
    UNKNOWN_ERROR: "Websocket Unknown Other Error",
    SEND_FAILED: "Websocket Unknown Other Error",
}


# Whether errors carry a device's own message texts: set by ``profile.set_profile``.
_device_texts = False


def use_device_texts(on: bool) -> None:
    """Give every later ``BusinessError`` a device's own texts (``True``) or ours."""
    global _device_texts
    _device_texts = bool(on)


class BusinessError(Exception):
    """An OHOS ``BusinessError``: a numeric ``code`` and a ``message``.

    Args:
        code: One of the codes of :data:`CODE_TEXT`.
        detail: What was wrong and what to do; appended to the OHOS text.
        data: Extra data, as OHOS gives it (the HTTP status text for code 200).

    Attributes:
        hint: Under the ``device`` profile, what was wrong and what to do (the
            message is then the device's text alone); ``None`` otherwise.
    """

    hint: str | None = None

    def __init__(self, code: int, detail: str = "", data: Any = None) -> None:
        self.code = code
        self.detail = detail
        if code in DEVICE_TEXT and _device_texts:
            self.message = DEVICE_TEXT[code]
            self.hint = detail or None
        else:
            title = CODE_TEXT.get(code, "Error")
            self.message = f"{title}: {detail}" if detail else title
        self.data = data
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.code, self.message, self.data, self.hint))

    def __repr__(self) -> str:
        extra = f", data={self.data!r}" if self.data is not None else ""
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}{extra})"

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"[{self.code}] {self.message}{hint}"

    def to_dict(self) -> dict[str, Any]:
        """The error as OHOS's ``JSON.stringify(err)`` shows it."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out

    toJSON = to_dict


class LoopThreadError(BusinessError, RuntimeError):
    """A blocking call was made on the runtime's own I/O thread, where it would deadlock."""

    def __init__(self, what: str) -> None:
        if sys.platform == "emscripten":
            # In a browser the page's one thread is the I/O thread: a wait must
            # suspend Python (JavaScript Promise Integration) to let it go on.
            detail = (
                f"{what} cannot block here: in a browser Python can wait only by being "
                "suspended, which needs JavaScript Promise Integration (current Chromium "
                "has it; this browser, or this call, does not); use `await` on the promise "
                "instead (or a callback, or .then())"
            )
        else:
            detail = (
                f"{what} cannot block on the WebSocket I/O thread (it would deadlock); "
                "use a callback or .then() there instead"
            )
        super().__init__(UNKNOWN_ERROR, detail)


def _rebuild(
    cls: type[BusinessError], code: int, message: str, data: Any, hint: str | None = None
) -> BusinessError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.code, err.message, err.data = code, message, data
    if hint is not None:
        err.hint = hint
    return err
