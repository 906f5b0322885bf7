"""TLS on `ssl.SSLObject` between two `MemoryBIO`s, driven by the reactor's connection.

Owns: the handshake, record encryption/decryption and close_notify for one connection.
Never does: socket I/O. The connection moves ciphertext between the socket and the BIOs.

Why reads can need writes and writes can need reads: TLS is a conversation, not a pipe. During the
handshake every chunk the peer sends may call for an answer; after it, a read may still produce bytes
to send (a key update, a close_notify reply), and a write before the handshake has finished must
wait. So every call here returns the ciphertext OpenSSL wants on the wire, and the caller sends it.

Invariant: after any call, the caller sends what `take_output()` holds before it reads again.
"""
import ssl

# Bytes decrypted per SSLObject.read call: one TLS record is at most 16 KiB of plaintext.
PLAINTEXT_CHUNK = 16 * 1024


class TLSClosed(Exception):
    """The peer sent close_notify."""


class TLSUnavailable(Exception):
    """The server's certificate cannot be loaded, so no TLS session can start."""


class TLSLayer:
    """`source.context()` gives the SSLContext; it is asked when the client's first bytes arrive, so a
    connection that never speaks (a port probe) never makes the server load its certificate."""
    __slots__ = ("_source", "_incoming", "_outgoing", "_object", "handshake_done")

    def __init__(self, source):
        self._source = source
        self._incoming = self._outgoing = self._object = None
        self.handshake_done = False

    def _start(self):
        context = self._source.context()   # may raise TLSUnavailable
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._object = context.wrap_bio(self._incoming, self._outgoing, server_side=True)

    def receive(self, ciphertext, plaintext_buffer, deliver):
        """Decrypt `ciphertext`, calling `deliver(view)` for every chunk of plaintext.

        Raises ssl.SSLError for a broken peer, TLSClosed when the peer closed the session and
        TLSUnavailable when the server has no usable certificate.
        """
        if self._object is None:
            self._start()
        self._incoming.write(ciphertext)
        if not self.handshake_done:
            try:
                self._object.do_handshake()
            except ssl.SSLWantReadError:
                return
            self.handshake_done = True
        view = memoryview(plaintext_buffer)
        size = min(PLAINTEXT_CHUNK, len(plaintext_buffer))
        read = self._object.read
        while True:
            try:
                count = read(size, plaintext_buffer)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:
                raise TLSClosed() from None
            if not count:
                raise TLSClosed()
            deliver(view[:count])

    def encrypt(self, plaintext):
        if self._object is None:
            self._start()
        self._object.write(plaintext)

    def close_notify(self):
        try:
            self._object.unwrap()
        except ssl.SSLError:
            pass

    def take_output(self):
        outgoing = self._outgoing
        return outgoing.read() if outgoing is not None and outgoing.pending else b""

    @property
    def version(self):
        return self._object.version() if self._object is not None else None
