"""Media: types from the bytes and probing (``probe``), the API's media rules (``limits``,
``rules``), preflight, sample media.
"""
