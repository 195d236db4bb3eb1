import numpy as np
import pytest
from PIL import Image

from matnet.data.images import load_digit, read_gray, to_mnist
from matnet.errors import MatnetError


def centre_of_mass(a):
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()


def bar(h=60, w=80, top=10, left=50, height=40, width=10, ink=1.0, paper=0.0):
    img = np.full((h, w), paper, np.float32)
    img[top:top + height, left:left + width] = ink
    return img


def test_a_bar_is_fitted_to_20_pixels_keeping_its_aspect_ratio_and_centred():
    out = to_mnist(bar())
    assert out.shape == (28, 28) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    rows, cols = np.flatnonzero(out.max(axis=1) > 0.5), np.flatnonzero(out.max(axis=0) > 0.5)
    assert rows[-1] - rows[0] + 1 == 20             # the longer side: 40 -> 20
    assert cols[-1] - cols[0] + 1 == 5              # 10 -> 5, the same ratio
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_both_polarities_give_the_same_input():
    light_on_dark = to_mnist(bar())
    dark_on_light = to_mnist(bar(ink=0.1, paper=0.9))
    np.testing.assert_allclose(light_on_dark, dark_on_light, atol=1e-5)


def test_grey_paper_and_faint_noise_are_removed(rng):
    noisy = bar(ink=0.2, paper=0.7) + rng.uniform(-0.02, 0.02, (60, 80)).astype(np.float32)
    out = to_mnist(noisy)
    clean = to_mnist(bar())
    assert np.abs(out - clean).max() < 0.2 and (out[:3] == 0).all()


def test_blank_images_are_refused():
    with pytest.raises(MatnetError, match="no digit found"):
        to_mnist(np.full((30, 30), 0.8, np.float32))


def test_files_of_any_mode(tmp_path):
    img = (bar() * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "a.pgm")
    Image.fromarray(np.stack([255 - img] * 3, axis=-1)).save(tmp_path / "b.jpg", quality=95)
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[..., 3] = img                                   # black ink on a transparent sheet
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "c.png")
    reference = to_mnist(bar())
    for name in ("a.pgm", "b.jpg", "c.png"):
        assert np.abs(load_digit(tmp_path / name) - reference).max() < 0.1, name


def test_unreadable_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(MatnetError, match="not an image Pillow can read"):
        read_gray(tmp_path / "notes.txt")
    with pytest.raises(MatnetError, match="no such file"):
        read_gray(tmp_path / "missing.png")
    Image.fromarray((bar() * 255).astype(np.uint8)).save(tmp_path / "x.png")
    data = (tmp_path / "x.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(MatnetError, match="cut.png"):
        read_gray(tmp_path / "cut.png")
