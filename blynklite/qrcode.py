"""QR codes (ISO/IEC 18004) as PNG images, for the clone links of `GET /{token}/qr`.

Owns: turning a text into a QR symbol — byte mode (UTF-8) at the smallest version 1–40 that holds it,
Reed–Solomon codewords per block, module placement, the mask with the lowest penalty, format and
version information — and writing that symbol as a 1-bit grayscale PNG. Never does: I/O, and no
other modes (numeric, alphanumeric, kanji, ECI, structured append): a clone link is short ASCII, and
byte mode is what every reader handles.

Invariant: every module of the symbol is either a function module (finder, separator, timing,
alignment, format, version, the dark module), fixed before any data is placed, or a data module
filled in the standard's zigzag order; masks touch data modules only. `qr_matrix` returns a square
grid of booleans (True = dark) that any conforming reader decodes back to the text.
"""
import re
import struct
import zlib

# -- tables of the standard (ISO/IEC 18004), indexed by version 1..40 ---------------------------
# Table 1: codewords in the whole symbol, data and error correction together.
TOTAL_CODEWORDS = (
    None, 26, 44, 70, 100, 134, 172, 196, 242, 292, 346, 404, 466, 532, 581, 655, 733, 815, 901, 991, 1085,
    1156, 1258, 1364, 1474, 1588, 1706, 1828, 1921, 2051, 2185, 2323, 2465, 2611, 2761, 2876, 3034, 3196,
    3362, 3532, 3706)
# Table 9, per level: error-correction codewords in each block, and how many blocks there are.
ECC_PER_BLOCK = {
    "L": (None, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30,
          30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    "M": (None, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28,
          28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28),
    "Q": (None, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30,
          30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    "H": (None, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30,
          30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
}
BLOCKS = {
    "L": (None, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14,
          15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25),
    "M": (None, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25,
          26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49),
    "Q": (None, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34,
          34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68),
    "H": (None, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37,
          40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81),
}
# Annex E: alignment pattern centres are 6 and then evenly spaced up to size - 7, counted from the far
# end with this step (only the first gap, next to the timing pattern, may differ). 0: not needed.
ALIGNMENT_STEP = (
    None, 0, 0, 0, 0, 0, 0, 16, 18, 20, 22, 24, 26, 28, 20, 22, 24, 24, 26, 28, 28, 22, 24, 24, 26, 26, 28,
    28, 24, 24, 26, 26, 26, 28, 28, 24, 26, 26, 26, 28, 28)
# Table 12: the two format bits of each error-correction level (not in L, M, Q, H order).
LEVEL_BITS = {"L": 0b01, "M": 0b00, "Q": 0b11, "H": 0b10}

BYTE_MODE = 0b0100
TERMINATOR_BITS = 4                   # byte-mode headers are 12 or 20 bits, so 4 zero bits end on a byte
PAD_CODEWORDS = b"\xec\x11"           # 11101100 00010001, alternated to fill the data capacity
GF_POLYNOMIAL = 0x11D                 # x^8 + x^4 + x^3 + x^2 + 1, the field the codewords live in
FORMAT_GENERATOR = 0b10100110111      # BCH(15,5) generator for the format information
FORMAT_XOR = 0b101010000010010        # so that no format information is all light
VERSION_GENERATOR = 0b1111100100101   # Golay (18,6) generator for the version information (7..40)
FIRST_VERSION_INFO = 7                # smaller symbols carry no version information
# Table 11 (7.8.3): penalty weights for runs, 2x2 blocks, finder look-alikes and dark/light balance.
N1, N2, N3, N4 = 3, 3, 40, 10
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_MASKS = (                            # Table 10, i = row, j = column: True where the module flips
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: i * j % 2 + i * j % 3 == 0,
    lambda i, j: (i * j % 2 + i * j % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + i * j % 3) % 2 == 0,
)


# -- Reed–Solomon over GF(256) ----------------------------------------------------------------------
def _field_tables():
    exp, log, value = [0] * 510, [0] * 256, 1
    for power in range(255):
        exp[power] = exp[power + 255] = value
        log[value] = power
        value <<= 1
        if value & 0x100:
            value ^= GF_POLYNOMIAL
    return exp, log


_EXP, _LOG = _field_tables()
_GENERATORS = {}


def _generator_logs(degree):
    """The logs of the coefficients (after the leading 1) of (x - a^0)(x - a^1)...(x - a^(degree-1))."""
    if degree not in _GENERATORS:
        poly = [1]
        for root in range(degree):
            shifted = [_EXP[_LOG[c] + root] if c else 0 for c in poly] + [0]
            poly = [a ^ b for a, b in zip([0] + poly, shifted)]
        poly.reverse()                 # highest power first
        _GENERATORS[degree] = [_LOG[c] for c in poly[1:]]   # every coefficient is nonzero
    return _GENERATORS[degree]


def rs_remainder(data, degree):
    """The `degree` error-correction codewords of one block: data * x^degree mod the generator."""
    generator = _generator_logs(degree)
    remainder = [0] * degree
    for byte in data:
        factor = byte ^ remainder[0]
        remainder = remainder[1:] + [0]
        if factor:
            log = _LOG[factor]
            remainder = [r ^ _EXP[log + g] for r, g in zip(remainder, generator)]
    return remainder


# -- codewords -------------------------------------------------------------------------------------
def data_capacity(version, ecc):
    """Data codewords of a symbol: all of its codewords less the error-correction ones."""
    return TOTAL_CODEWORDS[version] - ECC_PER_BLOCK[ecc][version] * BLOCKS[ecc][version]


def _count_bits(version):
    return 8 if version < 10 else 16   # Table 3, byte mode


def _fits(length, version, ecc):
    header_and_terminator = (4 + _count_bits(version) + TERMINATOR_BITS) // 8
    return length + header_and_terminator <= data_capacity(version, ecc)


def _data_codewords(data, version, ecc):
    """Mode, count, the bytes and the terminator, then pad codewords up to the capacity."""
    count_bits = _count_bits(version)
    stream = (BYTE_MODE << count_bits | len(data)) << 8 * len(data) | int.from_bytes(data, "big")
    length = (4 + count_bits + 8 * len(data) + TERMINATOR_BITS) // 8
    words = (stream << TERMINATOR_BITS).to_bytes(length, "big")
    missing = data_capacity(version, ecc) - length
    return words + PAD_CODEWORDS * (missing // 2) + PAD_CODEWORDS[:missing % 2]


def _blocks(words, version, ecc):
    """Split data codewords into blocks: the short ones first, then those one codeword longer."""
    count = BLOCKS[ecc][version]
    short, longer = divmod(len(words), count)
    blocks, at = [], 0
    for index in range(count):
        size = short + (index >= count - longer)
        blocks.append(words[at:at + size])
        at += size
    return blocks


def _interleave(blocks):
    longest = max(map(len, blocks))
    return [block[i] for i in range(longest) for block in blocks if i < len(block)]


def final_codewords(data, version, ecc):
    """The codeword sequence placed in the symbol: data codewords, then error correction, each
    interleaved block by block (section 7.6)."""
    blocks = _blocks(_data_codewords(data, version, ecc), version, ecc)
    degree = ECC_PER_BLOCK[ecc][version]
    return _interleave(blocks) + _interleave([rs_remainder(block, degree) for block in blocks])


# -- function patterns -----------------------------------------------------------------------------
class _Symbol:
    """A square of modules (`dark`) and which of them are function modules (`fixed`)."""

    def __init__(self, version):
        self.version, self.size = version, 4 * version + 17
        self.dark = [[False] * self.size for _ in range(self.size)]
        self.fixed = [[False] * self.size for _ in range(self.size)]

    def put(self, row, col, dark):
        self.dark[row][col], self.fixed[row][col] = dark, True

    def copy(self):
        """Own modules, shared `fixed`: masks and format bits only write where it is already True."""
        other = _Symbol.__new__(_Symbol)
        other.version, other.size, other.fixed = self.version, self.size, self.fixed
        other.dark = [row[:] for row in self.dark]
        return other


def _draw_finders(symbol):
    """Three 7x7 finders with their light separators: rings by distance from the centre."""
    far = symbol.size - 4
    for centre_row, centre_col in ((3, 3), (3, far), (far, 3)):
        for row in range(centre_row - 4, centre_row + 5):
            for col in range(centre_col - 4, centre_col + 5):
                if 0 <= row < symbol.size and 0 <= col < symbol.size:
                    ring = max(abs(row - centre_row), abs(col - centre_col))
                    symbol.put(row, col, ring in (0, 1, 3))


def _draw_timing(symbol):
    for i in range(8, symbol.size - 8):
        symbol.put(6, i, i % 2 == 0)
        symbol.put(i, 6, i % 2 == 0)


def alignment_centres(version):
    """Row (and column) numbers of alignment pattern centres; every pair of them has one, except
    the three that would sit on a finder."""
    if version == 1:
        return []
    last, count = 4 * version + 10, version // 7 + 2
    return [6] + [last - ALIGNMENT_STEP[version] * k for k in reversed(range(count - 1))]


def _draw_alignment(symbol):
    centres = alignment_centres(symbol.version)
    on_finders = {(6, 6), (6, symbol.size - 7), (symbol.size - 7, 6)}
    for row in centres:
        for col in centres:
            if (row, col) in on_finders:
                continue
            for r in range(row - 2, row + 3):
                for c in range(col - 2, col + 3):
                    symbol.put(r, c, max(abs(r - row), abs(c - col)) != 1)


def _bch(value, generator):
    """`value` followed by the remainder of value * x^k divided by `generator` (of degree k)."""
    degree = generator.bit_length() - 1
    remainder = value << degree
    for shift in reversed(range(value.bit_length())):
        if remainder >> (shift + degree) & 1:
            remainder ^= generator << shift
    return value << degree | remainder


def format_bits(ecc, mask):
    return _bch(LEVEL_BITS[ecc] << 3 | mask, FORMAT_GENERATOR) ^ FORMAT_XOR


def format_positions(size):
    """Where bits 14 (first) down to 0 of the format information go, in each of its two copies."""
    first = [(8, c) for c in (0, 1, 2, 3, 4, 5, 7, 8)] + [(r, 8) for r in (7, 5, 4, 3, 2, 1, 0)]
    second = [(size - 1 - i, 8) for i in range(7)] + [(8, size - 8 + i) for i in range(8)]
    return first, second


def _draw_format(symbol, ecc, mask):
    bits = format_bits(ecc, mask)
    for copy in format_positions(symbol.size):
        for index, (row, col) in enumerate(copy):
            symbol.put(row, col, bits >> (14 - index) & 1 == 1)
    symbol.put(symbol.size - 8, 8, True)            # the dark module, beside the lower copy


def _draw_version(symbol):
    """18 bits in a 6x3 block next to the bottom-left finder and, mirrored, the top-right one."""
    if symbol.version < FIRST_VERSION_INFO:
        return
    bits = _bch(symbol.version, VERSION_GENERATOR)
    for index in range(18):
        dark, near, far = bits >> index & 1 == 1, index // 3, symbol.size - 11 + index % 3
        symbol.put(far, near, dark)
        symbol.put(near, far, dark)


def _function_patterns(version):
    symbol = _Symbol(version)
    _draw_finders(symbol)
    _draw_timing(symbol)
    _draw_alignment(symbol)
    _draw_format(symbol, "M", 0)     # reserves the format modules; the real bits come with the mask
    _draw_version(symbol)
    return symbol


# -- data and masks --------------------------------------------------------------------------------
def _data_path(symbol):
    """Data module positions in placement order: two-module columns from the right, upwards then
    downwards in turn, stepping over the vertical timing pattern."""
    col, upward = symbol.size - 1, True
    while col > 0:
        if col == 6:
            col = 5
        rows = range(symbol.size - 1, -1, -1) if upward else range(symbol.size)
        for row in rows:
            for c in (col, col - 1):
                if not symbol.fixed[row][c]:
                    yield row, c
        col, upward = col - 2, not upward


def _bits(codewords, count):
    """The codewords' bits, most significant first, then light remainder bits up to `count`."""
    bits = [word >> shift & 1 == 1 for word in codewords for shift in range(7, -1, -1)]
    return bits + [False] * (count - len(bits))


def _place(symbol, bits, path, mask):
    flips = _MASKS[mask]
    dark = symbol.dark
    for (row, col), bit in zip(path, bits):
        dark[row][col] = bit != flips(row, col)


_RUN = re.compile(rb"\x00{5,}|\x01{5,}")
_FINDER_LIKE = (bytes.fromhex("0000000001000101010001"),    # 1:1:3:1:1 after 4 light modules
                bytes.fromhex("0100010101000100000000"))    # ... or before them
_QUIET = b"\x00" * 4                  # the quiet zone around the symbol counts as light for rule 3
_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def _line_penalty(line):
    """Rules 1 and 3 on one row or column (bytes of 0/1)."""
    runs = sum(N1 + len(run) - 5 for run in _RUN.findall(line))
    padded = _QUIET + line + _QUIET
    return runs + N3 * sum(padded.count(pattern) for pattern in _FINDER_LIKE)


def _block_penalty(rows):
    """Rule 2: every 2x2 square of one colour, found with bit operations on whole rows."""
    width_mask = (1 << (len(rows) - 1)) - 1
    numbers = [int(row.translate(_DIGITS), 2) for row in rows]
    total = 0
    for upper, lower in zip(numbers, numbers[1:]):
        same = ~(upper ^ lower) & ~(upper ^ upper >> 1) & ~(lower ^ lower >> 1) & width_mask
        total += bin(same).count("1")      # int.bit_count needs Python 3.10
    return N2 * total


def penalty(dark):
    """The 7.8.3 score of a masked symbol: lower is easier to read."""
    size = len(dark)
    rows = [bytes(row) for row in dark]
    columns = [bytes(column) for column in zip(*rows)]
    dark_count = sum(row.count(1) for row in rows)
    balance = N4 * (abs(20 * dark_count - 10 * size * size) // (size * size))  # whole 5% steps off 50%
    return sum(map(_line_penalty, rows + columns)) + _block_penalty(rows) + balance


# -- the public API --------------------------------------------------------------------------------
def choose_version(length, ecc):
    for version in range(1, 41):
        if _fits(length, version, ecc):
            return version
    raise ValueError(f"{length} bytes do not fit in a QR code at error-correction level {ecc}")


def qr_matrix(text: str, ecc: str = "M") -> "list[list[bool]]":
    """The modules (True = dark, rows top to bottom) of `text` in byte mode, UTF-8, at level `ecc`."""
    if ecc not in LEVEL_BITS:
        raise ValueError(f"unknown error-correction level {ecc!r}: use L, M, Q or H")
    data = text.encode("utf-8")
    version = choose_version(len(data), ecc)
    codewords = final_codewords(data, version, ecc)
    blank = _function_patterns(version)
    path = list(_data_path(blank))
    bits = _bits(codewords, len(path))
    best = None
    for mask in range(len(_MASKS)):
        symbol = blank.copy()
        _place(symbol, bits, path, mask)
        _draw_format(symbol, ecc, mask)
        score = penalty(symbol.dark)
        if best is None or score < best[0]:
            best = (score, symbol.dark)
    return best[1]


def qr_png(text: str, scale: int = 8, border: int = 4, ecc: str = "M") -> bytes:
    """A 1-bit grayscale PNG of the QR code of `text`: `scale` pixels per module, a quiet zone of
    `border` modules (the standard asks for 4)."""
    if scale < 1 or border < 0:
        raise ValueError("scale must be at least 1 and border at least 0")
    matrix = qr_matrix(text, ecc)
    side = (len(matrix) + 2 * border) * scale
    light_row = _pixel_row([False] * len(matrix), scale, border)
    rows = [light_row] * (border * scale)
    for modules in matrix:
        rows += [_pixel_row(modules, scale, border)] * scale
    rows += [light_row] * (border * scale)
    return _png(side, side, b"".join(rows))


def _pixel_row(modules, scale, border):
    """One scanline: filter type 0, then pixels 8 to a byte, 1 = white, padded to a whole byte."""
    quiet = "1" * (border * scale)
    digits = quiet + "".join(("0" if dark else "1") * scale for dark in modules) + quiet
    digits += "0" * (-len(digits) % 8)
    return b"\0" + int(digits, 2).to_bytes(len(digits) // 8, "big")


def _png(width, height, scanlines):
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)   # depth 1, grayscale, no interlace
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(scanlines, 9))
            + _chunk(b"IEND", b""))


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
