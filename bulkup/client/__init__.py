"""Performs what the core decides: the transport (one aiohttp session, signing, its own
errors), pacing from the rate-limit headers, the per-item driver, the ``Uploader`` and
its settings, progress.
"""
