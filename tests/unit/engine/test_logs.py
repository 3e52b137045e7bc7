"""``engine.logs``: websockets' handshake debug lines with credentials masked."""

from __future__ import annotations

import logging

import pytest

from ohws_jupyter.engine.logs import MaskingLogger, mask_log_line


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("> Authorization: Bearer s3cret", "> Authorization: ***"),
        ("< cookie:session=1", "< cookie:***"),
        ("> Sec-WebSocket-Key: dGhlIHNhbXBsZQ==", "> Sec-WebSocket-Key: ***"),
        ("> X-Room: 7", "> X-Room: 7"),
        ("> GET /chat?token=t0k&room=7 HTTP/1.1", "> GET /chat?token=***&room=7 HTTP/1.1"),
        ("< GET /feed?api_key=k HTTP/1.1", "< GET /feed?api_key=*** HTTP/1.1"),
        (
            "> TEXT 'Authorization: Bearer x' [24 bytes]",
            "> TEXT 'Authorization: Bearer x' [24 bytes]",
        ),
        ("= connection is OPEN", "= connection is OPEN"),
    ],
)
def test_credential_headers_and_query_tokens_are_masked(line: str, shown: str) -> None:
    assert mask_log_line(line) == shown


def test_more_header_names_can_be_masked() -> None:
    assert mask_log_line("> X-Tenant: acme", ["x-tenant"]) == "> X-Tenant: ***"
    assert mask_log_line("> X-Tenant: acme") == "> X-Tenant: acme"


def test_the_logger_masks_formatted_lines(caplog: pytest.LogCaptureFixture) -> None:
    log = MaskingLogger("client", ["x-tenant"])
    with caplog.at_level(logging.DEBUG, logger="websockets.client"):
        log.debug("> %s: %s", "Authorization", "Bearer s3cret")
        log.debug("> X-Tenant: %s", "acme")
        log.debug("> GET %s HTTP/1.1", "/?token=t0k")
    assert [r.getMessage() for r in caplog.records] == [
        "> Authorization: ***",
        "> X-Tenant: ***",
        "> GET /?token=*** HTTP/1.1",
    ]
    assert {r.name for r in caplog.records} == {"websockets.client"}
