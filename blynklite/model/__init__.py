"""The data model: users, dashboards, devices, widgets and pin values, in the Java server's JSON shape.

Plain classes with `__slots__`. Each knows how to read itself from the Java server's profile JSON
(`from_json`) and write itself back (`to_json`), keeping fields it does not model in `extra`, so a
profile written by the Java server survives a round trip through us unchanged.
Owned by the reactor thread alone: no locks.
"""
