"""JSON text from clients, parsed into values that always serialize again.

Owns: the one `loads()` every handler uses for JSON a client sends (app dashboards, widgets and
devices, tags, apps, reports, HTTP bodies), and its nesting limit. Never does: size checks or shape
checks; the callers know their limits.

Why. JSON may spell a lone UTF-16 surrogate (`"\\ud800"`); Python's `json` accepts it and keeps
it in a `str`, which then fails every UTF-8 encode: the profile save, a frame to the app, an HTTP
answer. Java keeps such a String and writes `?` for it. We replace each lone surrogate with U+FFFD
as it enters, so nothing stored can ever fail to encode. A valid surrogate pair (`"\\ud83d\\ude00"`)
is joined by the parser into one code point and is untouched.

Invariant: no string in a value returned by `loads()` (keys included) holds a code point in
U+D800..U+DFFF, no value nests deeper than MAX_DEPTH, and the only error raised is ValueError.
"""
import json
import re

# Surrogates only reach a str through a \u escape: UTF-8 bytes decoded with "replace" never yield them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# Blynk's JSON nests about six deep (profile, dashboard, widget, tile template, stream); far deeper
# input is no Blynk object, and the parser, the serializer and every walk over it would recurse on it.
MAX_DEPTH = 64


def loads(text):
    """`json.loads(text)` with lone surrogates replaced by U+FFFD; ValueError for anything that is not
    JSON or nests deeper than MAX_DEPTH."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise ValueError("JSON nested too deeply")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        value = _clean(value)
    return value


def _deeper_than(value, limit):
    stack = [(value, 1)] if isinstance(value, (list, dict)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False


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
