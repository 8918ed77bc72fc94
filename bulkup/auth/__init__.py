"""Credentials: OAuth 1.0a signing, OAuth 2.0 tokens that renew themselves, token stores,
and the config file's ``[auth]`` table.
"""
