"""matnet export --format c: the generated C99 builds with `cc -O2 -std=c99 -Wall -Wextra -pedantic` without a
warning, and on 1,000 real MNIST test images agrees with matnet on every class and every probability (within 1e-5);
once more under AddressSanitizer and UndefinedBehaviorSanitizer, which must stay silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from export_support import SANITIZE, compile_c, inputs, matnet, one_error_line, randomize_batchnorm, saved
from matnet import Sequential
from matnet.errors import MatnetError
from matnet.export import export_c
from matnet.export.c_export import c_float
from matnet.architectures import build_cnn
from matnet.nn import BatchNorm, Conv2D, Dense, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh

HARNESS = Path(__file__).with_name("harness.c")   # images as raw floats on stdin, probabilities and classes out


def run_harness(binary, x: np.ndarray, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (N, classes), classes (N,)) that matnet_predict gives for the rows of x."""
    done = subprocess.run([str(binary), str(len(x))], input=np.ascontiguousarray(x, np.float32).tobytes(),
                          capture_output=True, timeout=300)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    size = len(x) * n_classes * 4
    return (np.frombuffer(done.stdout[:size], np.float32).reshape(len(x), n_classes),
            np.frombuffer(done.stdout[size:], np.int32))


def agree(model, x, probabilities, classes) -> None:
    expected = model.predict_proba(x)
    np.testing.assert_array_equal(classes, expected.argmax(axis=1))
    np.testing.assert_array_equal(classes, probabilities.argmax(axis=1))
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)


def write_pgm(path: Path, image: np.ndarray, ascii_: bool = False) -> Path:
    h, w = image.shape
    if ascii_:
        rows = "\n".join(" ".join(str(int(v)) for v in row) for row in image)
        path.write_text(f"P2\n# a comment\n{w} {h}\n# another\n255\n{rows}\n")
    else:
        path.write_bytes(f"P5\n{w} {h}\n255\n".encode() + np.ascontiguousarray(image, np.uint8).tobytes())
    return path


@pytest.mark.parametrize("name", ["mlp", "cnn", "fastcnn"])
def test_c_agrees_with_matnet(name, request, cc, images, tmp_path, capsys):
    model = request.getfixturevalue(name)
    out = tmp_path / "c"
    code, stdout, err = matnet(capsys, "export", saved(model, tmp_path / "m"), "--format", "c", "-o", str(out))
    assert code == 0 and "cc -O2 -std=c99 -Wall -Wextra -pedantic" in stdout, err
    assert sorted(p.name for p in out.iterdir()) == ["main.c", "model.c", "model.h"]
    source = (out / "model.c").read_text()
    assert "malloc" not in source and "static float" not in source      # no allocation, no mutable globals
    if name == "cnn":
        assert "batchnorm_1 (BatchNorm) folded in" in source and "batchnorm_2 (BatchNorm) folded in" in source
    compile_c(cc, [out / "main.c", out / "model.c"], tmp_path / "predict")             # the README's line
    harness = compile_c(cc, [HARNESS, out / "model.c"], tmp_path / "harness", include=out)
    x = inputs(model, images)
    agree(model, x, *run_harness(harness, x))


def test_sanitizers_stay_silent(cc, mlp, images, tmp_path):
    """The MLP and a small cnn (pad, conv, maxpool, BatchNorm folded, flatten) under ASan + UBSan; main.c too, on
    good and broken PGM files."""
    small = randomize_batchnorm(build_cnn(filters=(4, 8), dense=16, seed=6), seed=6)
    for name, model in (("mlp", mlp), ("small", small)):
        export_c(model, tmp_path / name)
        harness = compile_c(cc, [HARNESS, tmp_path / name / "model.c"], tmp_path / f"{name}-asan", flags=SANITIZE,
                            include=tmp_path / name)
        x = inputs(model, images[:100])
        agree(model, x, *run_harness(harness, x))
    predict = compile_c(cc, [tmp_path / "mlp" / "main.c", tmp_path / "mlp" / "model.c"], tmp_path / "predict-asan",
                        flags=SANITIZE)
    good = [write_pgm(tmp_path / "a.pgm", images[0]), write_pgm(tmp_path / "b.pgm", images[1], ascii_=True)]
    broken = {"short.pgm": b"P5\n28 28\n255\n" + bytes(100), "size.pgm": b"P5\n27 28\n255\n" + bytes(27 * 28),
              "magic.pgm": b"P6\n28 28\n255\n", "deep.pgm": b"P5\n28 28\n65535\n" + bytes(2 * 784),
              "empty.pgm": b"", "header.pgm": b"P2\n28 x\n"}
    for file, data in broken.items():
        (tmp_path / file).write_bytes(data)
    done = subprocess.run([str(predict), *map(str, good), *(str(tmp_path / f) for f in broken)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 2
    errors = done.stderr.splitlines()
    assert len(errors) == len(broken) and all(line.startswith("predict: ") for line in errors), done.stderr


def test_main_reads_pgm(cc, mlp, images, tmp_path):
    """P5 and P2 (with comments) give matnet's class and probabilities; -i reads dark ink on light paper."""
    export_c(mlp, tmp_path / "c")
    predict = compile_c(cc, [tmp_path / "c" / "main.c", tmp_path / "c" / "model.c"], tmp_path / "predict")
    files = [write_pgm(tmp_path / f"{k}.pgm", images[k], ascii_=k % 2 == 1) for k in range(6)]
    inverted = write_pgm(tmp_path / "inverted.pgm", 255 - images[0])
    done = subprocess.run([str(predict), "-a", *map(str, files)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    expected = mlp.predict_proba(inputs(mlp, images[:6]))
    for line, want in zip(done.stdout.splitlines(), expected, strict=True):
        head, probabilities = line.split("   ", 1)
        assert head.split(": ")[1].startswith(f"{want.argmax()} (")
        got = [float(p) for p in probabilities.split()[1::2]]
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)        # printed with 6 decimals
    flipped = subprocess.run([str(predict), "-i", str(inverted)], capture_output=True, text=True, timeout=60)
    assert flipped.stdout.split(": ")[1].startswith(f"{expected[0].argmax()} (") and not flipped.stderr
    assert not done.stderr                                           # light ink on dark: read as it is, no note
    usage = subprocess.run([str(predict)], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage" in usage.stderr
    for flag in ("-h", "--help"):                 # the usage, not "--help: cannot open the file"
        helped = subprocess.run([str(predict), flag, str(files[0])], capture_output=True, text=True, timeout=60)
        assert helped.returncode == 0 and helped.stdout.startswith("usage: ") and not helped.stderr, helped
    unknown = subprocess.run([str(predict), "-x", str(files[0])], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and unknown.stderr == "predict: unknown option -x (see --help)\n"
    (tmp_path / "-a").write_bytes(files[0].read_bytes())   # after --, a file that looks like an option
    dashed = subprocess.run([str(predict), "--", "-a"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert dashed.returncode == 0 and dashed.stdout.startswith(f"-a: {expected[0].argmax()} ("), dashed


def test_main_reads_dark_ink_on_light_paper_without_i(cc, mlp, images, tmp_path):
    """As `matnet predict`, the polarity is read from the image's border: a dark digit on white paper is inverted
    (with a note on stderr) and read as the digit; -n reads every image as it is, -i inverts every image."""
    export_c(mlp, tmp_path / "c")
    predict = compile_c(cc, [tmp_path / "c" / "main.c", tmp_path / "c" / "model.c"], tmp_path / "predict")
    expected = mlp.predict_proba(inputs(mlp, images[:20])).argmax(axis=1)
    dark = [write_pgm(tmp_path / f"dark{k}.pgm", 255 - images[k], ascii_=k % 2 == 1) for k in range(20)]
    done = subprocess.run([str(predict), *map(str, dark)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = [int(line.split(": ")[1].split(" (")[0]) for line in done.stdout.splitlines()]
    np.testing.assert_array_equal(got, expected)
    notes = done.stderr.strip().splitlines()
    assert len(notes) == 20 and all(line.startswith(f"predict: {path}: ") and "inverted" in line and "-n" in line
                                    for line, path in zip(notes, dark, strict=True)), done.stderr
    light = write_pgm(tmp_path / "light.pgm", images[0])
    as_is = subprocess.run([str(predict), "-n", str(dark[0]), str(light)], capture_output=True, text=True, timeout=60)
    assert as_is.returncode == 0 and not as_is.stderr, as_is.stderr
    assert as_is.stdout.splitlines()[1].split(": ")[1].startswith(f"{expected[0]} (")
    forced = subprocess.run([str(predict), "-i", str(light)], capture_output=True, text=True, timeout=60)
    assert forced.returncode == 0 and not forced.stderr


def test_every_supported_layer(cc, images, tmp_path):
    """LeakyReLU, Sigmoid, Tanh, a Softmax at the end (not applied twice), a strided Conv2D without padding, a
    BatchNorm after ReLU (not foldable: a per-channel affine) and one after a Dense (folded)."""
    model = Sequential([Conv2D(1, 6, 3, stride=2), ReLU(), BatchNorm(6), MaxPool2D(3, stride=2), LeakyReLU(0.2),
                        Flatten(), Dense(216, 32), BatchNorm(32), Tanh(), Dense(32, 16), Sigmoid(), Dense(16, 10),
                        Softmax()], input_shape=(1, 28, 28), seed=7)
    randomize_batchnorm(model, seed=7)
    export_c(model, tmp_path / "c")
    source = (tmp_path / "c" / "model.c").read_text()
    assert "affine(" in source and "batchnorm_2 (BatchNorm) folded in" in source
    harness = compile_c(cc, [HARNESS, tmp_path / "c" / "model.c"], tmp_path / "harness", include=tmp_path / "c")
    x = inputs(model, images[:300])
    agree(model, x, *run_harness(harness, x))


def test_unsupported_layer_is_one_clear_line(resnet, tmp_path, capsys):
    with pytest.raises(MatnetError, match=r"residual_1 \(Residual\) cannot be exported to C"):
        export_c(resnet, tmp_path / "c")
    line = one_error_line(matnet(capsys, "export", saved(resnet, tmp_path / "m"), "--format", "c", "-o",
                                 str(tmp_path / "c")), 1, "residual_1 (Residual)", "to C", "--format onnx")
    assert "Dense" in line                                        # says what is supported
    assert not (tmp_path / "c").exists()                          # nothing written


def test_output_folder_rules(mlp, tmp_path, capsys):
    model = saved(mlp, tmp_path / "m")
    one_error_line(matnet(capsys, "export", model, "--format", "c", "-o", str(tmp_path / "no" / "c")), 1,
                   "does not exist")
    (tmp_path / "empty").mkdir()
    assert matnet(capsys, "export", model, "--format", "c", "-o", str(tmp_path / "empty"))[0] == 0
    keep = tmp_path / "empty" / "notes.txt"
    keep.write_text("mine")
    one_error_line(matnet(capsys, "export", model, "--format", "c", "-o", str(tmp_path / "empty")), 1, "--force",
                   "model.h")
    (tmp_path / "empty" / "model.c").write_text("old")
    assert matnet(capsys, "export", model, "--format", "c", "-o", str(tmp_path / "empty"), "--force")[0] == 0
    assert keep.read_text() == "mine" and "matnet_predict" in (tmp_path / "empty" / "model.c").read_text()
    one_error_line(matnet(capsys, "export", model, "--format", "c", "-o", str(keep)), 1, "is a file")


@pytest.mark.parametrize("value", [3.0, -0.0, 1e-45, 3.4028235e38, 0.1, -2.5e-8, 1.17549435e-38, 12345678.0])
def test_float_literals_read_back_exactly(value):
    literal = c_float(float(np.float32(value)))
    assert literal.endswith("f") and any(c in literal for c in ".e")
    assert np.float32(float(literal[:-1])) == np.float32(value)


def test_every_float32_digit_pattern_reads_back(rng):
    values = (rng.standard_normal(10_000) * 10.0 ** rng.integers(-30, 30, 10_000)).astype(np.float32)
    back = np.array([float(c_float(float(v))[:-1]) for v in values], dtype=np.float32)
    np.testing.assert_array_equal(back, values)


def test_the_final_softmax_is_the_networks_own_only_where_matnet_says_so():
    """The C program applies a softmax exactly as often as ``predict_proba`` does (``Network.ends_in_softmax``):
    once after a final Softmax, twice when a Dropout follows it (matnet's last layer is then not a Softmax)."""
    from matnet.export.c_export import _program
    from matnet.nn import Dropout

    def softmaxes(layers):
        steps = _program(Sequential(layers, seed=1)).steps
        return sum("softmax(" in line for step in steps for line in step["lines"])

    assert softmaxes([Dense(4, 3)]) == 1
    assert softmaxes([Dense(4, 3), Softmax()]) == 1
    assert softmaxes([Dense(4, 3), Softmax(), Dropout(0.5)]) == 2


def test_a_layer_name_that_opens_or_closes_a_comment_compiles_without_a_warning(cc, tmp_path):
    """Names go into the C source's comments: ``*/`` would end one early, ``/*`` inside one is -Wcomment."""
    from matnet import Dense, ReLU, Sequential

    model = Sequential([Dense(784, 8, name="a/*b*/c"), ReLU(name="*//**/"), Dense(8, 10, name="/*/")], seed=0)
    out = tmp_path / "c"
    export_c(model, out)
    compile_c(cc, [out / "main.c", out / "model.c"], tmp_path / "predict")


def test_a_c_export_that_fails_half_way_leaves_nothing_and_can_run_again(tmp_path, monkeypatch, capsys):
    """A full disk after model.h: the files this export made are taken back, the error names the file, and the
    same command then runs (it was refused: the folder held a lone model.h)."""
    import errno

    import matnet.export.c_export as c_export
    from matnet.architectures import build_mlp
    from matnet.fileio import atomic_path

    build_mlp([784, 8, 10]).save(tmp_path / "m")
    real = c_export.write_text

    def full_disk(path, text):
        if path.name == "model.c":
            with atomic_path(path):                  # as the real write, but the disk fills while it writes
                raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)

    monkeypatch.setattr(c_export, "write_text", full_disk)
    out = tmp_path / "c"
    failed = matnet(capsys, "export", str(tmp_path / "m"), "--format", "c", "-o", str(out))
    one_error_line(failed, 1, f"{out / 'model.c'}: the disk is full")
    assert list(out.iterdir()) == []
    monkeypatch.setattr(c_export, "write_text", real)
    code, _, err = matnet(capsys, "export", str(tmp_path / "m"), "--format", "c", "-o", str(out))
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["main.c", "model.c", "model.h"], err
