"""``matnet predict`` with hostile and awkward inputs, ``--show-input`` naming, and ``--multi`` on written numbers
(the default model trained on the real MNIST: the session's default run)."""

import json
import math
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matnet import Sequential, save_model
from matnet.nn import Dense

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from hard_digits import number_page  # noqa: E402


def matnet(*args):
    return subprocess.run([sys.executable, "-m", "matnet.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=os.environ)


def error_lines(done):
    lines = done.stderr.strip().splitlines()
    assert all(line.startswith("matnet: error: ") for line in lines), done.stderr
    return lines


@pytest.fixture
def digits(mnist, tmp_path):
    """Three real test digits as dark-on-light PNGs: (paths, labels)."""
    paths = []
    for i in range(3):
        path = tmp_path / f"d{i}.png"
        Image.fromarray(255 - mnist.test_images[i]).resize((84, 84)).save(path)
        paths.append(path)
    return paths, [str(label) for label in mnist.test_labels[:3]]


def test_one_bad_file_among_many_fails_alone(default_run, digits, tmp_path):
    out, _ = default_run
    (a, b, c), labels = digits
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    done = matnet("predict", str(out), str(a), str(bad), str(c), "--json")
    assert done.returncode == 1
    results = json.loads(done.stdout)                                 # still valid JSON
    assert [r["file"] for r in results] == [str(a), str(bad), str(c)]
    assert results[1].keys() == {"file", "error"} and "not an image Pillow can read" in results[1]["error"]
    assert [results[0]["label"], results[2]["label"]] == [labels[0], labels[2]]
    assert len(error_lines(done)) == 1 and "bad.png" in done.stderr
    text = matnet("predict", str(out), str(a), str(bad), str(c))
    assert text.returncode == 1 and len(text.stdout.splitlines()) == 2 and len(error_lines(text)) == 1


def png_header_only(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_one_clear_line(default_run, digits, tmp_path):
    out, _ = default_run
    png_header_only(tmp_path / "bomb.png", 30_000, 30_000)          # 900 megapixels in a 100-byte file
    done = matnet("predict", str(out), str(tmp_path / "bomb.png"), str(digits[0][0]), "--json")
    assert done.returncode == 1
    (line,) = error_lines(done)
    assert "bomb.png" in line and "900 megapixels" in line and "the limit is 40 megapixels" in line
    assert json.loads(done.stdout)[1]["label"] == digits[1][0]


def test_show_input_never_replaces_a_file(default_run, digits, tmp_path):
    out, _ = default_run
    (a, _, _), _ = digits
    other = tmp_path / "other"
    other.mkdir()
    twin = other / a.name                                             # the same name in another folder
    twin.write_bytes(a.read_bytes())
    before = {p: p.read_bytes() for p in (a, twin)}
    # DIR is the folder that holds the inputs: their own names are taken, so the outputs get new ones
    done = matnet("predict", str(out), str(a), str(twin), "--show-input", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    saved = [Path(r["input_image"]) for r in json.loads(done.stdout)]
    assert saved == [tmp_path / "d0-2.png", tmp_path / "d0-3.png"]
    assert all(p.read_bytes() == content for p, content in before.items())
    again = matnet("predict", str(out), str(a), "--show-input", str(tmp_path), "--json")
    assert Path(json.loads(again.stdout)[0]["input_image"]) == tmp_path / "d0-4.png"
    seen = np.asarray(Image.open(saved[0]))
    assert seen.shape == (28, 28) and seen.max() > 200 and seen[0].max() == 0     # light digit on black
    (tmp_path / "afile").write_text("x")
    (line,) = error_lines(matnet("predict", str(out), str(a), "--show-input", str(tmp_path / "afile" / "sub")))
    assert "--show-input" in line and "cannot create the folder" in line


def test_a_model_that_overflows_gives_an_error_not_nan(tmp_path, digits):
    model = Sequential([Dense(784, 10)])
    model.layers[0].params["W"][:] = 3e38                             # finite weights, infinite logits
    save_model(model, tmp_path / "huge")
    done = matnet("predict", str(tmp_path / "huge"), str(digits[0][0]), "--json")
    assert done.returncode == 1

    def no_constants(name):
        raise AssertionError(f"{name} in the JSON output")
    (result,) = json.loads(done.stdout, parse_constant=no_constants)          # strict JSON: no NaN, no Infinity
    assert "non-finite probabilities" in result["error"]


def test_a_number_without_multi_is_read_with_a_warning(mnist, tmp_path):
    """31570 was read 0 (99.9%) without a word: an image that holds several digit-sized marks is read as one
    digit with a warning to use --multi (on stderr, and a "warning" in its JSON entry); one digit has none."""
    sure = Sequential([Dense(784, 10)])                   # sure of a 7 whatever it sees: no low-confidence warning
    sure.layers[0].params["W"][:] = 0.0
    sure.layers[0].params["b"][:] = 0.0
    sure.layers[0].params["b"][7] = 20.0
    save_model(sure, tmp_path / "m")
    number, digit = tmp_path / "31570.png", tmp_path / "seven.png"
    number_page(list(mnist.test_images[[18, 2, 8, 0, 3]]), np.random.default_rng(0), touching=0).save(number)
    Image.fromarray(255 - mnist.test_images[0]).resize((84, 84)).save(digit)
    done = matnet("predict", str(tmp_path / "m"), str(number), str(digit), "--json")
    assert done.returncode == 0, done.stderr
    read_number, read_digit = json.loads(done.stdout)
    assert read_number["warning"] == "this image holds 5 digit-sized marks: use --multi to read it as a number"
    assert "warning" not in read_digit
    assert done.stderr == f"matnet: warning: {number}: {read_number['warning']}\n"
    text = matnet("predict", str(tmp_path / "m"), str(number))
    assert text.stdout.startswith(f"{number}: ") and "use --multi" in text.stderr


def test_a_digit_read_unsure_says_so(tmp_path, digits):
    """A letter, a speck or a shadow's edge taken for a digit was read as one without a word: a single digit read
    with under ``UNSURE`` confidence warns (stderr, and "warning" in --json)."""
    unsure = Sequential([Dense(784, 10)])
    unsure.layers[0].params["W"][:] = 0.0
    unsure.layers[0].params["b"][:] = 0.0
    unsure.layers[0].params["b"][2] = np.log(0.45 / 0.55 * 9)                # "2" at 45%
    save_model(unsure, tmp_path / "m")
    done = matnet("predict", str(tmp_path / "m"), str(digits[0][0]), "--json")
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)
    assert entry["label"] == "2"
    assert entry["warning"].startswith("read with only 45.0% confidence: the image may hold no clear digit")
    assert done.stderr == f"matnet: warning: {digits[0][0]}: {entry['warning']}\n"


def test_multi_reads_written_numbers(default_run, mnist, tmp_path):
    out, _ = default_run
    rng = np.random.default_rng(11)
    files, truths = [], []
    for k in range(4):
        which = rng.choice(len(mnist.test_images), size=4, replace=False)
        page = number_page(list(mnist.test_images[which]), rng, touching=0.5)
        files.append(tmp_path / f"n{k}.png")
        page.save(files[-1])
        truths.append("".join(str(label) for label in mnist.test_labels[which]))
    done = matnet("predict", str(out), *map(str, files), "--multi", "--json", "--show-input", str(tmp_path / "seen"))
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert sum(r["number"] == truth for r, truth in zip(results, truths)) >= 3
    for result, file in zip(results, files):
        width, height = Image.open(file).size
        xs = [d["box"]["x"] for d in result["digits"]]
        assert xs == sorted(xs) and result["number"] == "".join(d["label"] for d in result["digits"])
        for digit in result["digits"]:
            box = digit["box"]
            assert 0 <= box["x"] and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
            assert math.isclose(sum(digit["probabilities"]), 1.0, rel_tol=1e-5)
            assert Path(digit["input_image"]).parent == tmp_path / "seen"
    assert (tmp_path / "seen" / "n0.digit1.png").exists()
    text = matnet("predict", str(out), str(files[0]), "--multi")
    assert text.stdout.startswith(f"{files[0]}: {results[0]['number']}   ")
    assert text.stdout.count("%") == len(results[0]["digits"])                # each digit's confidence



def test_multi_scores_each_digit_once(tmp_path, capsys, monkeypatch):
    """``--multi`` reads a number with ``matnet.data.images.read_number``: the model is run once per blob (all
    the ways of cutting it at once) and the digits' verdicts come from those scores, not from another pass."""
    from matnet.cli.main import main

    save_model(Sequential([Dense(784, 10)]), tmp_path / "m")
    page = np.full((120, 400), 230, np.uint8)
    page[20:100, 40:50] = page[20:100, 150:160] = page[20:30, 150:200] = page[20:100, 300:308] = 20
    Image.fromarray(page).save(tmp_path / "n.png")
    batches = []
    original = Sequential.predict_proba

    def counted(self, x, *args, **kwargs):
        batches.append(len(x))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(Sequential, "predict_proba", counted)
    assert main(["predict", "--multi", "--json", str(tmp_path / "m"), str(tmp_path / "n.png")]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert len(result["digits"]) == 3 and len(batches) == 3, batches
    assert result["number"] == "".join(digit["label"] for digit in result["digits"])


def test_an_internal_error_on_one_image_fails_that_image_alone(tmp_path, capsys, monkeypatch, digits):
    """An empty ruled page once raised NumPy's "zero-size array" from the preprocessing: one line naming no file,
    and every image after it unread (--json printed no results). Such an error now fails its image alone, named."""
    from matnet.cli import predict as command
    from matnet.cli.main import main

    save_model(Sequential([Dense(784, 10)]), tmp_path / "m")
    bad, good = tmp_path / "bad.png", digits[0][0]
    Image.new("L", (60, 60), 200).save(bad)
    real = command.to_mnist_counted

    def broken(gray, source):
        if source == str(bad):
            raise ValueError("zero-size array to reduction operation maximum which has no identity")
        return real(gray, source)

    monkeypatch.setattr(command, "to_mnist_counted", broken)
    assert main(["predict", "--json", str(tmp_path / "m"), str(bad), str(good)]) == 1
    captured = capsys.readouterr()
    first, second = json.loads(captured.out)
    assert first["error"].startswith(f"{bad}: cannot read a digit (an internal error, please report it: ValueError")
    assert second["file"] == str(good) and "label" in second
    assert captured.err.count("matnet: error:") == 1 and str(bad) in captured.err


def test_multi_names_the_digits_it_is_unsure_of(tmp_path, capsys):
    """Heavily overlapping digits were cut through by --multi and read at 48-60% without a word: a digit read
    with under ``UNSURE`` confidence is named in a warning (stderr, and "warning" in the JSON entry)."""
    from matnet.cli.main import main
    from matnet.data.images.number import UNSURE

    page = np.full((120, 400), 230, np.uint8)
    page[20:100, 40:50] = page[20:100, 150:160] = page[20:30, 150:200] = page[20:100, 300:308] = 20
    Image.fromarray(page).save(tmp_path / "n.png")
    unsure, sure = Sequential([Dense(784, 10)]), Sequential([Dense(784, 10)])
    unsure.layers[0].params["W"][:] = 0.0                                     # every class 10%
    unsure.layers[0].params["b"][:] = 0.0
    unsure.layers[0].params["b"][3] = np.log(0.6 / 0.4 * 9)                   # "3" at 60%
    sure.layers[0].params["W"][:] = 0.0
    sure.layers[0].params["b"][:] = 0.0
    sure.layers[0].params["b"][7] = 20.0
    save_model(unsure, tmp_path / "unsure")
    save_model(sure, tmp_path / "sure")
    assert main(["predict", "--multi", "--json", str(tmp_path / "unsure"), str(tmp_path / "n.png")]) == 0
    captured = capsys.readouterr()
    (result,) = json.loads(captured.out)
    assert result["number"] == "333" and UNSURE > 0.6
    assert result["warning"].startswith("digits 1 (60.0%), 2 (60.0%), 3 (60.0%) read with under 70% confidence")
    assert captured.err == f"matnet: warning: {tmp_path / 'n.png'}: {result['warning']}\n"
    assert main(["predict", "--multi", "--json", str(tmp_path / "sure"), str(tmp_path / "n.png")]) == 0
    captured = capsys.readouterr()
    assert "warning" not in json.loads(captured.out)[0] and captured.err == ""


@pytest.mark.slow
def test_the_shipped_example_photos_are_read_right_by_the_demo_network(default_run, capsys):
    """`make demo` points a new user at examples/: the demo's network must read them."""
    from matnet.cli.main import main

    examples = Path(__file__).resolve().parents[2] / "examples"
    out, _ = default_run
    assert main(["predict", "--json", str(out), str(examples / "seven-shadow.png"),
                 str(examples / "two-ballpoint.png")]) == 0
    read = json.loads(capsys.readouterr().out)
    assert [entry["label"] for entry in read] == ["7", "2"]
    assert main(["predict", "--multi", "--json", str(out), str(examples / "number-2024.png")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["number"] == "2024"
