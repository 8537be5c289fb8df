"""tagloop.images: decoding by content, every mode to RGB, EXIF, damage and bombs refused."""

import threading

import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage import data as skdata
from tagloop.decode_budget import DecodeBudget
from tagloop.images import (
    CorruptImageError,
    ImageTooLargeError,
    UnsupportedImageError,
    decode_image,
    load_image_array,
    to_model_input,
)

from tests.support.images import encode
from tests.support.testfiles import png_bomb


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(skdata.chelsea())  # 451x300 RGB


@pytest.fixture(scope="module")
def photo_jpeg(photo: Image.Image) -> bytes:
    return encode(photo, "JPEG", quality=92)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_load_image_array_returns_model_input_for_each_format(photo: Image.Image, fmt: str) -> None:
    arr = load_image_array(encode(photo, fmt))
    assert arr.shape == (224, 224, 3)
    assert arr.dtype == np.float32
    assert arr.min() >= 0.0 and arr.max() <= 1.0
    # Same picture whatever the format: a lossy codec moves pixels a little, not more.
    reference = load_image_array(encode(photo, "PNG"))
    assert np.abs(arr - reference).mean() < 0.02


def test_to_model_input_is_a_plain_bilinear_resize_over_255(photo: Image.Image) -> None:
    expected = np.asarray(photo.resize((224, 224), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    np.testing.assert_array_equal(to_model_input(photo), expected)


def test_decode_image_ignores_the_file_extension_and_reads_content(photo: Image.Image) -> None:
    # No filename reaches decode_image at all: PNG bytes decode as PNG whatever they are called.
    assert decode_image(encode(photo, "PNG")).size == photo.size


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("L", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("RGBA", "PNG"),
        ("1", "PNG"),
        ("CMYK", "JPEG"),
        ("L", "JPEG"),
        ("I;16", "PNG"),
        ("RGBA", "WEBP"),
    ],
)
def test_decode_image_converts_every_mode_to_rgb(photo: Image.Image, mode: str, fmt: str) -> None:
    source = photo.convert("L").convert("I;16") if mode == "I;16" else photo.convert(mode)
    img = decode_image(encode(source, fmt))
    assert img.mode == "RGB"
    assert img.size == photo.size


def test_decode_image_scales_16_bit_grayscale_instead_of_clipping() -> None:
    wide = np.full((8, 8), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    img = decode_image(encode(Image.fromarray(wide), "PNG"))
    assert np.asarray(img)[0, 0].tolist() == [128, 128, 128]


def test_decode_image_composites_transparency_on_white() -> None:
    clear = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(decode_image(encode(clear, "PNG")))[0, 0].tolist() == [255, 255, 255]


def test_decode_image_applies_exif_orientation() -> None:
    wide = Image.new("RGB", (200, 100), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img = decode_image(encode(wide, "JPEG", exif=exif.tobytes()))
    assert img.size == (100, 200)


def test_decode_image_drafts_large_jpegs_to_at_least_the_draft_size() -> None:
    big = Image.fromarray(skdata.astronaut()).resize((2048, 1536))
    img = decode_image(encode(big, "JPEG", quality=90))
    assert img.size == (512, 384)  # 1/4: the largest libjpeg scale that keeps both sides >= 320
    assert img.size[0] / img.size[1] == pytest.approx(2048 / 1536, rel=0.01)


def test_decode_image_rejects_truncated_jpeg(photo_jpeg: bytes) -> None:
    with pytest.raises(CorruptImageError, match="damaged or truncated"):
        decode_image(photo_jpeg[: len(photo_jpeg) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decode_image_rejects_truncated_png(photo: Image.Image) -> None:
    data = encode(photo, "PNG")
    with pytest.raises(CorruptImageError):
        decode_image(data[: len(data) // 2])


def test_decode_image_rejects_a_jpeg_with_only_a_header(photo_jpeg: bytes) -> None:
    with pytest.raises(CorruptImageError, match="JPEG"):
        decode_image(photo_jpeg[:40])


def test_decode_image_rejects_empty_file() -> None:
    with pytest.raises(CorruptImageError, match="empty"):
        decode_image(b"")


def test_decode_image_refuses_a_pixel_bomb_before_decoding() -> None:
    # 20000x20000 = 400 MP of one colour compresses to a few hundred KB of PNG.
    bomb = encode(Image.new("1", (20000, 20000)), "PNG")
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        decode_image(bomb)


def test_decode_image_applies_the_max_pixels_setting(photo_jpeg: bytes) -> None:
    with pytest.raises(ImageTooLargeError, match=r"limit is 0\.1 megapixels"):
        decode_image(photo_jpeg, max_pixels=100_000)


def test_decode_image_refuses_text_named_like_a_jpeg() -> None:
    with pytest.raises(UnsupportedImageError, match=r"found: text"):
        decode_image(b"this is not an image, only text with a .jpg name\n")


def test_decode_image_refuses_gif(photo: Image.Image) -> None:
    with pytest.raises(UnsupportedImageError, match="GIF images are not supported"):
        decode_image(encode(photo.convert("P"), "GIF"))


def test_decode_image_refuses_svg() -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    with pytest.raises(UnsupportedImageError, match="SVG"):
        decode_image(svg)


def test_decode_image_refuses_bmp(photo: Image.Image) -> None:
    with pytest.raises(UnsupportedImageError, match="BMP"):
        decode_image(encode(photo, "BMP"))


def test_decode_image_refuses_by_memory_before_decoding() -> None:
    """The review's 77 KB 16-bit PNG: 6300x6300 x 2 bytes is over the 64 MiB budget."""
    bomb = png_bomb(6300, 6300, bit_depth=16)
    with pytest.raises(ImageTooLargeError, match="76 MiB of memory; the limit is 64 MiB") as caught:
        decode_image(bomb)
    assert caught.value.code == "image_too_large"


def test_decode_image_of_a_wide_image_is_reduced_and_8_bit() -> None:
    """Within a raised budget the same image decodes to a small RGB image, scaled, not clipped."""
    img = decode_image(png_bomb(2000, 1000, bit_depth=16), max_bytes=1 << 30)
    assert img.mode == "RGB" and img.size == (667, 334)  # reduced by 3 (rounded up): both sides stay >= 320


def test_decode_budget_makes_decodes_wait_for_memory() -> None:
    budget = DecodeBudget(100)
    entered, release = threading.Event(), threading.Event()

    def second_decode() -> None:
        with budget.reserve(50):
            entered.set()
            release.wait(10)

    waiter = threading.Thread(target=second_decode)
    with budget.reserve(80):
        waiter.start()
        assert not entered.wait(0.2), "a decode started while the budget was taken"
    assert entered.wait(10)
    assert budget.free == 50
    release.set()
    waiter.join()
    assert budget.free == 100
