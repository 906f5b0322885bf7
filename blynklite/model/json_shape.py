"""Field mapping between Java's JSON names and our attributes, with Jackson's output rules.

Jackson (as upstream configures it) omits nulls, empty strings, empty lists and empty maps, and writes
primitive zeros and false. `Field` lists say which JSON name maps to which attribute and its default.
"""


class Field:
    __slots__ = ("json", "attr", "default", "always")

    def __init__(self, json_name, attr, default=None, always=False):
        self.json = json_name
        self.attr = attr
        self.default = default
        self.always = always   # a Java primitive: written even when zero/false


def read_fields(obj, data, fields):
    """Set obj's attributes from `data`; return the dict of unknown keys."""
    known = set()
    for field in fields:
        known.add(field.json)
        value = data.get(field.json, field.default)
        setattr(obj, field.attr, field.default if value is None and field.always else value)
    return {k: v for k, v in data.items() if k not in known}


def write_fields(obj, fields, out=None):
    out = {} if out is None else out
    for field in fields:
        value = getattr(obj, field.attr)
        if field.always or not _is_empty(value):
            out[field.json] = value
    return out


def _is_empty(value):
    return value is None or value == "" or (isinstance(value, (list, dict)) and not value)
