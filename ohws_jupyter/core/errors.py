"""Errors of the OHOS WebSocket API.

Every failure the API reports is a :class:`BusinessError` with an OHOS error
code; nothing else escapes ``connect``/``send``/``close``::

    Exception
     └── BusinessError            .code, .message, .data
          └── LoopThreadError     (also a RuntimeError) blocking call on the I/O thread

The message starts with the OHOS text for the code and goes on with what was
wrong and what to do: ``"Parameter error: close code 999 is not allowed; ..."``.
A ``device``-profile object (:mod:`ohws_jupyter.core.context`) words its
errors with the device's own text, exactly (``"Websocket connection already
exist"``), so code that compares it ports; what was wrong and what to do moves
to ``.hint``. Each object words the errors it reports with its own texts
(:meth:`BusinessError.use_texts`); an error made outside any object has ours.
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


class BusinessError(Exception):
    """An OHOS ``BusinessError``: a numeric ``code`` and a ``message``.

    Args:
        code: One of the codes of :data:`CODE_TEXT`.
        detail: What was wrong and what to do; appended to the OHOS text.
        data: Extra data, as OHOS gives it (the HTTP status text for code 200).
        device: Word it with a device's texts (``True``) or ours (``False``,
            the default); an object rewords the errors it reports by its own
            profile (:meth:`use_texts`).
        device_text: The device's message where it is not the usual one of the
            code (``connect``'s −1 reads "Websocket connect failed").

    Attributes:
        hint: Under the ``device`` profile, what was wrong and what to do (the
            message is then the device's text alone); ``None`` otherwise.
    """

    hint: str | None = None
    #: Carries the code alone (a device server's ``'error'``): texts never change it.
    bare: bool = False

    def __init__(
        self,
        code: int,
        detail: str = "",
        data: Any = None,
        *,
        device: bool = False,
        device_text: str | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.data = data
        self.device_text = device_text
        self.use_texts(device=device)

    def use_texts(self, *, device: bool) -> None:
        """Word the message with a device's own text (``True``) or ours (``False``)."""
        detail = getattr(self, "detail", None)
        if detail is None or self.bare:
            # Rebuilt from a pickle (only the message travelled), or code-only.
            return
        if self.code in DEVICE_TEXT and device:
            self.message = getattr(self, "device_text", None) or DEVICE_TEXT[self.code]
            self.hint = detail or None
        else:
            title = CODE_TEXT.get(self.code, "Error")
            self.message = f"{title}: {detail}" if detail else title
            self.hint = None
        self.args = (self.message,)

    @classmethod
    def code_only(cls, code: int, hint: str) -> BusinessError:
        """An error that carries ``code`` alone, as a device's server reports one:
        no message, no data; what happened is in ``hint``."""
        err = cls.__new__(cls)
        Exception.__init__(err, "")
        err.code, err.detail, err.message, err.data, err.hint = code, hint, "", None, hint
        err.bare = True
        return err

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.code, self.message, self.data, self.hint))

    def __repr__(self) -> str:
        extra = f", data={self.data!r}" if self.data is not None else ""
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}{extra})"

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        text = f" {self.message}" if self.message else ""
        return f"[{self.code}]{text}{hint}"

    def to_dict(self) -> dict[str, Any]:
        """The error as OHOS's ``JSON.stringify(err)`` shows it."""
        out: dict[str, Any] = {"code": self.code}
        if self.message:
            out["message"] = self.message
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
