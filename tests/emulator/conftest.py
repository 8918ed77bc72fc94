"""Emulator profiles the emulator's own tests share."""

from __future__ import annotations

from bulkup.emulator import EmulatorConfig, Lifetimes

#: Processing that takes 10 emulated seconds, so each state can be seen in turn.
SLOW_PROCESSING = EmulatorConfig(lifetimes=Lifetimes(processing_secs=10, check_after_secs=1))
#: Chunks of at most 1 KiB, so a small file takes many segments.
SMALL_CHUNKS = EmulatorConfig(
    lifetimes=Lifetimes(processing_secs=0, check_after_secs=0, max_chunk_bytes=1024)
)
