"""QR codes decoded by an independent reader (zxing-cpp): every version and level at full capacity,
UTF-8 text, the PNG container itself."""
import io
import struct
import zlib

import pytest

from blynklite import qrcode

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")


def decode(png):
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "exactly one QR code expected"
    return results[0].text


def png_version(png, scale=2, border=4):
    width = struct.unpack(">I", png[16:20])[0]
    return (width // scale - 2 * border - 17) // 4


@pytest.mark.parametrize("ecc", "LMQH")
def test_every_version_decodes_at_full_capacity(ecc):
    for version in range(1, 41):
        capacity = qrcode._data_codewords(version, qrcode.LEVELS[ecc]) - (2 if version < 10 else 3)
        text = "".join(chr(48 + i % 43) for i in range(capacity))
        png = qrcode.qr_png(text, scale=2, ecc=ecc)
        assert png_version(png) == version
        assert decode(png) == text, (ecc, version)


@pytest.mark.parametrize("version", [1, 9, 26])
def test_one_byte_more_takes_the_next_version(version):
    capacity = qrcode._data_codewords(version, qrcode.LEVELS["M"]) - (2 if version < 10 else 3)
    assert png_version(qrcode.qr_png("a" * (capacity + 1), scale=2)) == version + 1


@pytest.mark.parametrize("text", [
    "blynk://token/clone/0123456789abcdef0123456789abcdef?server=192.168.1.10&port=9443",
    "Grüße ✓ 温度", "a"])
def test_texts_round_trip(text):
    assert decode(qrcode.qr_png(text)) == text


def test_the_png_is_a_valid_one_bit_grayscale_image():
    png = qrcode.qr_png("hello", scale=3, border=4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + data)
        chunks.append((kind, data))
        at += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, color) == ((21 + 8) * 3, (21 + 8) * 3, 1, 0)
    assert len(zlib.decompress(chunks[1][1])) == height * (1 + (width + 7) // 8)


def test_too_much_text_is_a_value_error():
    with pytest.raises(ValueError):
        qrcode.qr_matrix("x" * 3000, "L")
