"""Sans-IO codecs: bytes in, messages out. No sockets, no clock, no logging side effects."""
