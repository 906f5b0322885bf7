"""JSON text from clients, parsed into values that always serialize again.

Owns: the one `loads()` every handler uses for JSON a client sends (app dashboards, widgets and
devices, HTTP bodies). Never does: size checks or shape checks; the callers know their limits.

Why. JSON may spell a lone UTF-16 surrogate (`"\\ud800"`); Python's `json` accepts it and keeps
it in a `str`, which then fails every UTF-8 encode: the profile save, a frame to the app, an HTTP
answer. Java keeps such a String and writes `?` for it. We replace each lone surrogate with U+FFFD
as it enters, so nothing stored can ever fail to encode. A valid surrogate pair (`"\\ud83d\\ude00"`)
is joined by the parser into one code point and is untouched.

Invariant: no string in a value returned by `loads()` (keys included) holds a code point in
U+D800..U+DFFF.
"""
import json
import re

# Surrogates only reach a str through a \u escape: UTF-8 bytes decoded with "replace" never yield them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def loads(text):
    """`json.loads(text)` (raises ValueError as it does), lone surrogates replaced by U+FFFD."""
    value = json.loads(text)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        value = _clean(value)
    return value


def clean_text(text):
    """A str with its lone surrogates replaced (for text that did not come through `loads`)."""
    return _LONE_SURROGATE.sub(REPLACEMENT, text)


def _clean(value):
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): _clean(item) for key, item in value.items()}
    return value
