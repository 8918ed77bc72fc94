"""Emulator profiles the emulator's own tests share."""

from __future__ import annotations

from bulkup.emulator import EmulatorConfig, Lifetimes, User

#: Processing that takes 10 emulated seconds, so each state can be seen in turn.
SLOW_PROCESSING = EmulatorConfig(lifetimes=Lifetimes(processing_secs=10, check_after_secs=1))
#: Chunks of at most 1 KiB, so a small file takes many segments.
SMALL_CHUNKS = EmulatorConfig(
    lifetimes=Lifetimes(processing_secs=0, check_after_secs=0, max_chunk_bytes=1024)
)

#: X's 429 body in v2.
V2_RATE_LIMITED = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
#: A second account, for limits counted per user or per app.
SECOND_USER = User(
    id="5000000000000000005",
    consumer_key="second-consumer-key",
    consumer_secret="second-consumer-secret",
    access_token="5000000000000000005-second",
    access_token_secret="second-token-secret",
)
