"""QR codes from blynklite.qrcode, read back by an independent decoder (zxing-cpp) from the PNG bytes:
the version, level and mask it reports, and no error correction spent (every codeword exact). Fixed
vectors from the standard pin the parts a decoder forgives: format bits, capacities, penalties."""
import io
import random
import string
import struct
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from blynklite import qrcode

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")

CLONE_LINK = "blynk://token/clone/0123456789abcdef0123456789abcdef?server=192.168.1.10&port=9443"
# ISO/IEC 18004 Annex C, Table C.1: the 15 format bits for each level and mask 0..7.
FORMAT_STRINGS = {
    "L": ("111011111000100", "111001011110011", "111110110101010", "111100010011101",
          "110011000101111", "110001100011000", "110110001000001", "110100101110110"),
    "M": ("101010000010010", "101000100100101", "101111001111100", "101101101001011",
          "100010111111001", "100000011001110", "100111110010111", "100101010100000"),
    "Q": ("011010101011111", "011000001101000", "011111100110001", "011101000000110",
          "010010010110100", "010000110000011", "010111011011010", "010101111101101"),
    "H": ("001011010001001", "001001110111110", "001110011100111", "001100111010000",
          "000011101100010", "000001001010101", "000110100001100", "000100000111011"),
}
# Table 7: how many bytes fit in byte mode, per (version, level).
BYTE_CAPACITY = {
    (1, "L"): 17, (1, "M"): 14, (1, "Q"): 11, (1, "H"): 7, (2, "M"): 26, (2, "H"): 14,
    (7, "L"): 154, (7, "M"): 122, (7, "Q"): 86, (7, "H"): 64, (10, "L"): 271, (10, "M"): 213,
    (10, "H"): 119, (25, "L"): 1273, (25, "Q"): 715, (25, "H"): 535, (40, "L"): 2953, (40, "M"): 2331,
    (40, "Q"): 1663, (40, "H"): 1273,
}


def decode(png):
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "exactly one QR code expected"
    return results[0]


def assert_reads_back(png, text, version=None, ecc="M"):
    barcode = decode(png)
    assert barcode.bytes == text.encode("utf-8")
    assert barcode.extra["ECLevel"] == ecc
    assert barcode.extra["UEC"] == 1.0, "the decoder had to correct errors"
    if version is not None:
        assert int(barcode.extra["Version"]) == version
    return barcode


def sample_text(length, seed):
    alphabet = string.ascii_letters + string.digits + "/:?=&.-_"
    return "".join(random.Random(seed).choices(alphabet, k=length))


@pytest.mark.parametrize("text", ["a", CLONE_LINK, "Grüße aus Köln ✓ 温度 25 ℃ 🌡"],
                         ids=["short", "clone link", "utf-8"])
def test_texts_read_back(text):
    assert assert_reads_back(qrcode.qr_png(text), text).text == text


@pytest.mark.parametrize("version, ecc", sorted(BYTE_CAPACITY))
def test_a_full_version_reads_back_and_one_byte_more_takes_the_next(version, ecc):
    capacity = BYTE_CAPACITY[version, ecc]
    text = sample_text(capacity, seed=version)
    assert_reads_back(qrcode.qr_png(text, scale=3, ecc=ecc), text, version, ecc)
    if version < 40:
        assert len(qrcode.qr_matrix(text + "x", ecc)) == 4 * (version + 1) + 17
    else:
        with pytest.raises(ValueError):
            qrcode.qr_matrix(text + "x", ecc)


@pytest.mark.parametrize("ecc", "LMQH")
def test_every_version_reads_back_at_full_capacity(ecc):
    for version in range(1, 41):
        header = 2 if version < 10 else 3                   # mode, count and terminator
        text = sample_text(qrcode.data_capacity(version, ecc) - header, seed=version)
        assert_reads_back(qrcode.qr_png(text, scale=3, ecc=ecc), text, version, ecc)


def test_the_clone_link_is_version_5_at_level_m():
    assert_reads_back(qrcode.qr_png(CLONE_LINK), CLONE_LINK, version=5)     # 82 bytes: 4-M holds 62


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=120), ecc=st.sampled_from("LMQH"))
def test_any_text_reads_back_as_its_utf8_bytes(text, ecc):
    assert_reads_back(qrcode.qr_png(text, scale=3, ecc=ecc), text, ecc=ecc)


def read_format(matrix):
    """Both copies of the format information, bit 14 first, as drawn in the standard's Figure 25."""
    size = len(matrix)
    around_top_left = ([matrix[8][c] for c in (0, 1, 2, 3, 4, 5, 7, 8)]
                       + [matrix[r][8] for r in (7, 5, 4, 3, 2, 1, 0)])
    split = ([matrix[r][8] for r in range(size - 1, size - 8, -1)]
             + [matrix[8][c] for c in range(size - 8, size)])
    return ["".join("1" if dark else "0" for dark in copy) for copy in (around_top_left, split)]


@pytest.mark.parametrize("ecc", "LMQH")
def test_version_1_carries_the_format_bits_of_its_level_and_chosen_mask(ecc):
    matrix = qrcode.qr_matrix("hello", ecc)
    assert len(matrix) == 21
    first, second = read_format(matrix)
    assert first == second
    mask = FORMAT_STRINGS[ecc].index(first)
    assert matrix[21 - 8][8], "the dark module"
    barcode = assert_reads_back(qrcode.qr_png("hello", ecc=ecc), "hello", version=1, ecc=ecc)
    assert barcode.extra["DataMask"] == mask


def test_version_1_m_data_codewords_sit_in_the_zigzag_under_the_mask():
    matrix = qrcode.qr_matrix("hello", "M")
    mask = FORMAT_STRINGS["M"].index(read_format(matrix)[0])
    flips = qrcode._MASKS[mask]
    # Version 1: columns 20..9 hold 12 x 2 modules upwards/downwards in turn; the first 16 codewords
    # lie in the right-hand 4 column pairs, rows 20..9 (the format area starts at row 8).
    bits = []
    for pair, col in enumerate((20, 18, 16, 14)):
        rows = range(20, 8, -1) if pair % 2 == 0 else range(9, 21)
        bits += [matrix[r][c] != flips(r, c) for r in rows for c in (col, col - 1)]
    words = [int("".join("1" if b else "0" for b in bits[i:i + 8]), 2) for i in range(0, 96, 8)]
    # 0100 (byte mode), 00000101 (5 bytes), "hello", 0000 terminator, then pad 0xEC 0x11 ...
    assert words == [0x40, 0x56, 0x86, 0x56, 0xC6, 0xC6, 0xF0, 0xEC, 0x11, 0xEC, 0x11, 0xEC]


def test_reed_solomon_matches_the_worked_example_for_1_m():
    data = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
    assert qrcode.rs_remainder(data, 10) == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23]


@pytest.mark.parametrize("ecc", "LMQH")
def test_format_bits_match_the_standard_table(ecc):
    assert [format(qrcode.format_bits(ecc, mask), "015b") for mask in range(8)] == list(FORMAT_STRINGS[ecc])


def test_version_7_carries_its_version_information_in_both_blocks():
    text = sample_text(BYTE_CAPACITY[7, "M"], seed=1)
    matrix = qrcode.qr_matrix(text, "M")
    size = len(matrix)
    assert size == 45
    expected = "000111110010010100"                        # Annex D, Table D.1, version 7
    bottom_left = "".join("1" if matrix[size - 11 + i % 3][i // 3] else "0" for i in reversed(range(18)))
    top_right = "".join("1" if matrix[i // 3][size - 11 + i % 3] else "0" for i in reversed(range(18)))
    assert bottom_left == top_right == expected


@pytest.mark.parametrize("version, centres", [
    (1, []), (2, [6, 18]), (7, [6, 22, 38]), (25, [6, 32, 58, 84, 110]), (32, [6, 34, 60, 86, 112, 138]),
    (36, [6, 24, 50, 76, 102, 128, 154]), (40, [6, 30, 58, 86, 114, 142, 170])])
def test_alignment_centres_match_annex_e(version, centres):
    assert qrcode.alignment_centres(version) == centres


def test_every_version_has_room_for_exactly_its_codewords():
    for version in range(1, 41):
        free = len(list(qrcode._data_path(qrcode._function_patterns(version))))
        assert free // 8 == qrcode.TOTAL_CODEWORDS[version], version
        assert free % 8 in (0, 3, 4, 7), version                # the standard's remainder bits


FINDER_LIKE = [True, False, True, True, True, False, True, False, False, False, False]


@pytest.mark.parametrize("matrix, expected", [
    ([[(r + c) % 2 == 1 for c in range(10)] for r in range(10)], 0),
    # 20 lines with a run of 10 (3 + 5 each), 81 2x2 squares (3 each), 0% dark (10 steps of 5%: 10 each)
    ([[False] * 10 for _ in range(10)], 20 * 8 + 81 * 3 + 100),
    # runs: 10 light rows (3 + 6), light columns 1, 5, 7..10 (3 + 6), the others (3 + 5 below a dark
    # module); 2x2: 90 in the light rows, 3 under the pattern's tail; 1:1:3:1:1 with 4 light after it
    # and (the quiet zone) before it: 2 x 40; 5 dark of 121 is 4%: 9 steps
    ([FINDER_LIKE] + [[False] * 11 for _ in range(10)], 10 * 9 + 6 * 9 + 5 * 8 + 93 * 3 + 2 * 40 + 90),
], ids=["checkerboard", "all light", "finder look-alike"])
def test_penalty_rules(matrix, expected):
    assert qrcode.penalty(matrix) == expected


def png_chunks(png):
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        chunks.append((kind, data))
        at += 12 + length
    return chunks


def test_the_png_is_a_valid_one_bit_grayscale_image():
    chunks = png_chunks(qrcode.qr_png("hello", scale=3, border=4))
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    side = (21 + 2 * 4) * 3
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (side, side, 1, 0, 0, 0, 0)
    scanlines = zlib.decompress(chunks[1][1])
    assert len(scanlines) == side * (1 + (side + 7) // 8)
    assert all(scanlines[i] == 0 for i in range(0, len(scanlines), 1 + (side + 7) // 8))


@pytest.mark.parametrize("scale, border", [(1, 0), (3, 4), (8, 2)])
def test_each_module_is_a_scale_by_scale_square_inside_a_light_border(scale, border):
    matrix = qrcode.qr_matrix(CLONE_LINK)
    image = Image.open(io.BytesIO(qrcode.qr_png(CLONE_LINK, scale=scale, border=border))).convert("L")
    side = len(matrix) + 2 * border
    assert image.size == (side * scale, side * scale)
    for y in range(side * scale):
        for x in range(side * scale):
            row, col = y // scale - border, x // scale - border
            dark = 0 <= row < len(matrix) and 0 <= col < len(matrix) and matrix[row][col]
            assert image.getpixel((x, y)) == (0 if dark else 255), (x, y)


@pytest.mark.parametrize("text, ecc", [
    ("x" * 2954, "L"), ("x" * 2332, "M"), ("é" * 832, "Q"), ("x" * 1274, "H")])
def test_text_too_long_for_version_40_is_a_value_error(text, ecc):
    with pytest.raises(ValueError):
        qrcode.qr_png(text, ecc=ecc)


@pytest.mark.parametrize("kwargs", [{"ecc": "X"}, {"scale": 0}, {"border": -1}])
def test_bad_arguments_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        qrcode.qr_png("hello", **kwargs)
