"""``core.errors``: BusinessError's codes, text, JSON form, pickling and the device wording."""

from __future__ import annotations

import pickle

import pytest

from ohws_jupyter import BusinessError, set_profile
from ohws_jupyter.core.errors import CODE_TEXT, DEVICE_TEXT, LoopThreadError

# The OHOS codes and their text, as the spec's table gives them.
OHOS_CODES = {
    401: "Parameter error",
    201: "Permission denied",
    2302001: "Websocket url error",
    2302002: "Websocket certificate file does not exist",
    2302003: "Websocket connection already exists",
    2302999: "Websocket Unknown Other Error",
}


@pytest.mark.parametrize(("code", "title"), sorted(OHOS_CODES.items()))
def test_every_ohos_code_has_its_text(code: int, title: str) -> None:
    assert CODE_TEXT[code] == title
    err = BusinessError(code)
    assert (err.code, err.message, err.data, err.hint) == (code, title, None, None)


def test_the_message_starts_with_the_code_text_and_says_what_to_do() -> None:
    err = BusinessError(401, "close code 999 is not allowed; use 1000–1003")
    assert err.message == "Parameter error: close code 999 is not allowed; use 1000–1003"
    assert str(err) == f"[401] {err.message}"
    assert repr(err) == f"BusinessError(code=401, message={err.message!r})"
    assert isinstance(err, Exception) and err.args == (err.message,)


def test_an_unknown_code_still_makes_an_error() -> None:
    assert BusinessError(12345, "odd").message == "Error: odd"


def test_json_form_is_what_ohos_stringifies() -> None:
    assert BusinessError(200, "refused", data="403").to_dict() == {
        "code": 200,
        "message": "Websocket connection error: refused",
        "data": "403",
    }
    assert BusinessError(401).toJSON() == {"code": 401, "message": "Parameter error"}
    assert repr(BusinessError(200, data="0")).endswith(", data='0')")


def test_an_error_survives_pickling_with_its_fields() -> None:
    err = BusinessError(2302003, "close it first", data={"k": 1})
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is BusinessError
    assert (back.code, back.message, back.data, back.hint) == (
        err.code,
        err.message,
        err.data,
        None,
    )
    assert str(back) == str(err)


def test_with_device_texts_the_message_is_the_devices_text_and_the_detail_a_hint() -> None:
    err = BusinessError(2302003, "close it first", device=True)
    assert err.message == DEVICE_TEXT[2302003] == "Websocket connection already exist"
    assert err.hint == "close it first"
    assert str(err) == "[2302003] Websocket connection already exist (close it first)"
    assert err.to_dict() == {"code": 2302003, "message": "Websocket connection already exist"}
    back = pickle.loads(pickle.dumps(err))
    assert (back.message, back.hint) == (err.message, err.hint)


def test_an_error_is_reworded_in_place_and_the_default_profile_does_not_word_it() -> None:
    err = BusinessError(2302003, "close it first")
    assert err.message == "Websocket connection already exists: close it first"
    err.use_texts(device=True)
    assert (err.message, err.hint, err.args) == (
        "Websocket connection already exist",
        "close it first",
        ("Websocket connection already exist",),
    )
    err.use_texts(device=False)
    assert (err.message, err.hint) == ("Websocket connection already exists: close it first", None)
    before = set_profile("device")
    try:
        assert BusinessError(2302003, "close it first").hint is None  # errors belong to objects
    finally:
        set_profile(before)


def test_a_code_the_device_has_no_text_for_keeps_the_seed_wording() -> None:
    assert 200 not in DEVICE_TEXT
    err = BusinessError(200, "refused", device=True)
    assert err.message == "Websocket connection error: refused" and err.hint is None


def test_loop_thread_error_is_a_2302999_and_a_runtime_error() -> None:
    err = LoopThreadError("send.result()")
    assert isinstance(err, BusinessError) and isinstance(err, RuntimeError)
    assert err.code == 2302999
    assert "send.result() cannot block on the WebSocket I/O thread" in err.message
    assert "use a callback or .then()" in err.message


def test_a_code_only_error_keeps_its_shape_under_any_texts() -> None:
    err = BusinessError.code_only(200, "the link to 127.0.0.1 is down")
    for device in (True, False):
        err.use_texts(device=device)
        assert err.to_dict() == {"code": 200}
        assert (err.message, err.data, err.hint) == ("", None, "the link to 127.0.0.1 is down")
    assert str(err) == "[200] (the link to 127.0.0.1 is down)"


def test_connect_minus_one_has_the_device_text_of_connect() -> None:
    err = BusinessError(-1, "cannot resolve the host", device_text="Websocket connect failed")
    assert err.message.startswith("Websocket send failed")  # our texts: the code's own
    err.use_texts(device=True)
    assert (err.message, err.hint) == ("Websocket connect failed", "cannot resolve the host")
    assert BusinessError(-1, "x", device=True).message == "Websocket Unknown Other Error"
