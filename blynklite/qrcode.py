"""QR codes (ISO/IEC 18004) as PNG images, for `GET /{token}/qr` clone links (spec/behaviours.md §11).

Owns: encoding text in byte mode at the smallest version that fits, Reed–Solomon error correction,
module placement, choosing the mask with the lowest penalty, and writing a 1-bit PNG. Never does:
I/O. Standard library only, so a Raspberry Pi needs no imaging package.

Invariant: `qr_matrix` returns a square grid of booleans (True = dark) that any QR reader decodes
to the given text; the tables below are the standard's, per version and error-correction level.
"""
import struct
import zlib

LEVELS = {"L": 0, "M": 1, "Q": 2, "H": 3}
FORMAT_BITS = {"L": 1, "M": 0, "Q": 3, "H": 2}   # the level's two bits in the format information
# Error-correction codewords per block, and number of blocks, for versions 1..40 (index 0 unused).
ECC_PER_BLOCK = (
    (None, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26,
     28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (None, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28,
     28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28),
    (None, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30,
     28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (None, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30,
     30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
)
BLOCKS = (
    (None, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16,
     17, 18, 19, 19, 20, 21, 22, 24, 25),
    (None, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28,
     29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49),
    (None, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35,
     38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68),
    (None, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42,
     45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81),
)
FORMAT_GENERATOR, FORMAT_MASK = 0x537, 0x5412
VERSION_GENERATOR = 0x1F25
BYTE_MODE = 0b0100


# -- Reed–Solomon over GF(256) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 -------------------------
_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i], _LOG[_x] = _x, _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def _gf_mul(a, b):
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


def _generator(degree):
    poly = [1]
    for i in range(degree):
        poly = [a ^ _gf_mul(b, _EXP[i]) for a, b in zip(poly + [0], [0] + poly)]
    return poly


def _ecc(data, degree):
    generator = _generator(degree)
    remainder = list(data) + [0] * degree
    for i in range(len(data)):
        factor = remainder[i]
        if factor:
            for j, g in enumerate(generator):
                remainder[i + j] ^= _gf_mul(g, factor)
    return remainder[len(data):]


# -- capacity -------------------------------------------------------------------------------------
def _raw_modules(version):
    """Modules left for data after every function pattern (including format and version info)."""
    result = (16 * version + 128) * version + 64
    if version >= 2:
        count = version // 7 + 2
        result -= (25 * count - 10) * count - 55
        if version >= 7:
            result -= 36
    return result


def _data_codewords(version, level):
    return _raw_modules(version) // 8 - ECC_PER_BLOCK[level][version] * BLOCKS[level][version]


def _bits_needed(version, length):
    return 4 + (8 if version < 10 else 16) + 8 * length


# -- encoding -------------------------------------------------------------------------------------
def _codewords(data, version, level):
    capacity = _data_codewords(version, level) * 8
    bits = []

    def put(value, count):
        bits.extend((value >> i) & 1 for i in reversed(range(count)))
    put(BYTE_MODE, 4)
    put(len(data), 8 if version < 10 else 16)
    for byte in data:
        put(byte, 8)
    put(0, min(4, capacity - len(bits)))
    put(0, -len(bits) % 8)
    words = [int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8)]
    pad = 0xEC
    while len(words) < capacity // 8:
        words.append(pad)
        pad ^= 0xEC ^ 0x11
    return _interleave(words, version, level)


def _interleave(words, version, level):
    count, ecc_len = BLOCKS[level][version], ECC_PER_BLOCK[level][version]
    total = _raw_modules(version) // 8
    short_len = total // count - ecc_len
    long_blocks = total % count
    blocks, at = [], 0
    for i in range(count):
        length = short_len + (1 if i >= count - long_blocks else 0)
        block = words[at:at + length]
        at += length
        blocks.append((block, _ecc(block, ecc_len)))
    result = []
    for i in range(short_len + 1):
        result += [block[i] for block, _ in blocks if i < len(block)]
    for i in range(ecc_len):
        result += [ecc[i] for _, ecc in blocks]
    return result


# -- the matrix -----------------------------------------------------------------------------------
class _Grid:
    def __init__(self, version):
        self.version = version
        self.size = 4 * version + 17
        self.dark = [[False] * self.size for _ in range(self.size)]
        self.reserved = [[False] * self.size for _ in range(self.size)]

    def set(self, x, y, dark):
        self.dark[y][x] = dark
        self.reserved[y][x] = True

    def draw_function_patterns(self):
        size = self.size
        for i in range(size):
            self.set(6, i, i % 2 == 0)
            self.set(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        distance = max(abs(dx), abs(dy))
                        self.set(x, y, distance not in (2, 4))
        positions = _alignment_positions(self.version)
        last = len(positions) - 1
        for i, cx in enumerate(positions):
            for j, cy in enumerate(positions):
                if (i, j) in ((0, 0), (0, last), (last, 0)):
                    continue
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self.set(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1)
        self.draw_format(0, 0)
        self.draw_version()

    def draw_format(self, level_bits, mask):
        data = level_bits << 3 | mask
        rem = data
        for _ in range(10):
            rem = (rem << 1) ^ ((rem >> 9) * FORMAT_GENERATOR)
        bits = (data << 10 | rem) ^ FORMAT_MASK
        size = self.size
        bit = lambda i: (bits >> i) & 1 == 1   # noqa: E731
        for i in range(6):
            self.set(8, i, bit(i))
        self.set(8, 7, bit(6))
        self.set(8, 8, bit(7))
        self.set(7, 8, bit(8))
        for i in range(9, 15):
            self.set(14 - i, 8, bit(i))
        for i in range(8):
            self.set(size - 1 - i, 8, bit(i))
        for i in range(8, 15):
            self.set(8, size - 15 + i, bit(i))
        self.set(8, size - 8, True)                        # the dark module

    def draw_version(self):
        if self.version < 7:
            return
        rem = self.version
        for _ in range(12):
            rem = (rem << 1) ^ ((rem >> 11) * VERSION_GENERATOR)
        bits = self.version << 12 | rem
        for i in range(18):
            dark = (bits >> i) & 1 == 1
            a, b = self.size - 11 + i % 3, i // 3
            self.set(a, b, dark)
            self.set(b, a, dark)

    def draw_data(self, codewords):
        bits = [(word >> (7 - i)) & 1 for word in codewords for i in range(8)]
        at, size = 0, self.size
        right = size - 1
        while right >= 1:
            if right == 6:
                right = 5
            upward = ((right + 1) & 2) == 0
            for step in range(size):
                y = size - 1 - step if upward else step
                for x in (right, right - 1):
                    if not self.reserved[y][x]:
                        self.dark[y][x] = at < len(bits) and bits[at] == 1
                        at += 1
            right -= 2

    def apply_mask(self, mask):
        rule = _MASKS[mask]
        for y in range(self.size):
            row, reserved = self.dark[y], self.reserved[y]
            for x in range(self.size):
                if not reserved[x] and rule(x, y):
                    row[x] = not row[x]


_MASKS = (
    lambda x, y: (x + y) % 2 == 0, lambda x, y: y % 2 == 0, lambda x, y: x % 3 == 0,
    lambda x, y: (x + y) % 3 == 0, lambda x, y: (x // 3 + y // 2) % 2 == 0,
    lambda x, y: x * y % 2 + x * y % 3 == 0, lambda x, y: (x * y % 2 + x * y % 3) % 2 == 0,
    lambda x, y: ((x + y) % 2 + x * y % 3) % 2 == 0,
)


def _alignment_positions(version):
    if version == 1:
        return []
    count = version // 7 + 2
    step = 26 if version == 32 else (version * 4 + count * 2 + 1) // (count * 2 - 2) * 2
    size = 4 * version + 17
    return [6] + [size - 7 - i * step for i in reversed(range(count - 1))]


def _penalty(dark):
    size = len(dark)
    score = 0
    lines = dark + [list(column) for column in zip(*dark)]
    finder_like = ((True, False, True, True, True, False, True, False, False, False, False),
                   (False, False, False, False, True, False, True, True, True, False, True))
    for line in lines:
        run, previous = 0, None
        for module in line:
            if module == previous:
                run += 1
            else:
                score += run - 2 if run >= 5 else 0
                run, previous = 1, module
        score += run - 2 if run >= 5 else 0
        for i in range(size - 10):
            if tuple(line[i:i + 11]) in finder_like:
                score += 40
    for y in range(size - 1):
        for x in range(size - 1):
            if dark[y][x] == dark[y][x + 1] == dark[y + 1][x] == dark[y + 1][x + 1]:
                score += 3
    total = sum(map(sum, dark))
    percent = total * 100 // (size * size)
    score += abs(percent - 50) // 5 * 10
    return score


def qr_matrix(text, ecc="M"):
    """The module grid (True = dark) of `text` in byte mode (UTF-8) at error-correction level `ecc`."""
    level = LEVELS[ecc]
    data = text.encode("utf-8")
    for version in range(1, 41):
        if _bits_needed(version, len(data)) <= _data_codewords(version, level) * 8:
            break
    else:
        raise ValueError(f"{len(data)} bytes do not fit in a QR code at level {ecc}")
    codewords = _codewords(data, version, level)
    best = None
    for mask in range(8):
        grid = _Grid(version)
        grid.draw_function_patterns()
        grid.draw_data(codewords)
        grid.apply_mask(mask)
        grid.draw_format(FORMAT_BITS[ecc], mask)
        score = _penalty(grid.dark)
        if best is None or score < best[0]:
            best = (score, grid.dark)
    return best[1]


def qr_png(text, scale=8, border=4, ecc="M"):
    """A 1-bit grayscale PNG of the QR code of `text`, `scale` pixels per module, `border` modules of
    quiet zone."""
    matrix = qr_matrix(text, ecc)
    modules = len(matrix) + 2 * border
    width = modules * scale
    rows = []
    for y in range(modules):
        row = matrix[y - border] if border <= y < len(matrix) + border else ()
        bits = [not (row and border <= x < len(matrix) + border and row[x - border]) for x in range(modules)]
        pixels = [bit for bit in bits for _ in range(scale)]
        packed = bytearray(b"\0")                        # filter type 0 for this row
        for i in range(0, width, 8):
            byte = 0
            for bit in pixels[i:i + 8]:
                byte = byte << 1 | bit
            packed.append(byte << (8 - len(pixels[i:i + 8])))
        rows += [bytes(packed)] * scale
    return _png(width, width, b"".join(rows))


def _png(width, height, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))
