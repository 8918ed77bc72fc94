"""Helpers for users' own tests: the pytest plugin with the ``x_media_emulator`` fixture."""
