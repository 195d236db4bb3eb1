import numpy as np
import pytest

from matnet import Sequential, load_model, save_model
from matnet.backend import to_device, to_numpy
from matnet.nn import BatchNorm, Conv2D, Dense, Flatten, GlobalAvgPool, MaxPool2D, ReLU, Residual, Tanh
from matnet.nn.gradcheck import TOLERANCE, _distinct, check_layer


def test_identity_shortcut_adds_the_input(rng):
    block = Residual([Conv2D(2, 2, 3, padding=1)])
    assert block.build((2, 5, 5)) == (2, 5, 5)
    block.layers[0].params["W"][...] = 0
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(to_numpy(block.forward(to_device(x))), x)     # F(x) = 0: out = x
    assert block.projection is None


def test_projection_is_made_by_build_when_shapes_differ():
    block = Residual([Conv2D(4, 8, 3, stride=2, padding=1), BatchNorm(8), ReLU()])
    assert block.build((4, 14, 14)) == (8, 7, 7)
    proj = block.projection
    assert isinstance(proj, Conv2D) and (proj.kernel_size, proj.stride, proj.out_channels) == (1, 2, 8)
    assert block.build((4, 14, 14)) == (8, 7, 7) and block.projection is proj     # built once, kept
    assert block.made_layers() == [proj] and block.sublayers() == block.layers + [proj]
    dense = Residual([Dense(6, 3)])
    assert dense.build((6,)) == (3,) and isinstance(dense.projection, Dense)
    assert Residual([Dense(3, 3)], projection=True).build((3,)) == (3,)             # asked for, though not needed


def test_output_shape_is_a_question_that_makes_nothing():
    block = Residual([Conv2D(4, 8, 3, stride=2, padding=1), ReLU()])
    for _ in range(2):
        assert block.output_shape((4, 14, 14)) == (8, 7, 7)
        assert block.projection is None and block.sublayers() == block.layers and block.made_layers() == []
    block.build((4, 14, 14))
    proj = block.projection
    for _ in range(2):
        assert block.output_shape((4, 14, 14)) == (8, 7, 7) and block.projection is proj


@pytest.mark.parametrize("layers, shape, message", [
    ([Conv2D(2, 3, 1), MaxPool2D(2)], (2, 6, 7), r"cannot project the shortcut \(2, 6, 7\) onto"),  # 7 -> 3, 4
    ([Conv2D(2, 3, 3, padding=1), Flatten()], (2, 4, 4), r"no projection maps \(2, 4, 4\) to \(48,\)"),
    ([Dense(4, 3), Dense(4, 2)], (4,), r"\(inside, at Dense\) takes inputs of shape \(4,\)"),
])
def test_shapes_no_shortcut_fits_are_refused_by_both(layers, shape, message):
    block = Residual(layers)
    for ask in (block.output_shape, block.build):
        with pytest.raises(ValueError, match=message):
            ask(shape)
    assert block.projection is None


def test_a_block_takes_layers_not_specs():
    with pytest.raises(TypeError, match="build_layer"):
        Residual([{"type": "ReLU", "name": None, "config": {}}])
    with pytest.raises(ValueError, match="at least one layer"):
        Residual([])


@pytest.mark.parametrize("projection", [False, True], ids=["identity", "projection"])
def test_gradients_match_finite_differences(projection, rng):
    layers = ([Conv2D(2, 3, 3, stride=2, padding=1, rng=rng), BatchNorm(3), Tanh()] if projection
              else [Conv2D(2, 2, 3, padding=1, rng=rng), ReLU(), Conv2D(2, 2, 3, padding=1, rng=rng)])
    errors = check_layer(Residual(layers), to_device(_distinct(rng, (3, 2, 6, 6))), rng)
    assert max(errors.values()) < TOLERANCE
    assert any("conv2d" in key for key in errors) and len(errors) == (7 if projection else 5)


def small_cnn():
    return Sequential([Conv2D(1, 4, 3, padding=1), BatchNorm(4), ReLU(), MaxPool2D(2),
                       Residual([Conv2D(4, 8, 3, stride=2, padding=1), BatchNorm(8), ReLU()]),
                       GlobalAvgPool(), Dense(8, 10)], input_shape=(1, 8, 8), seed=3)


def test_a_network_builds_each_block_once_and_names_every_layer_once():
    block = Residual([Conv2D(4, 8, 3, stride=2, padding=1), ReLU()])
    model = Sequential([Conv2D(1, 4, 3, padding=1), block, Conv2D(8, 8, 3, padding=1), Flatten(), Dense(8 * 4 * 4, 3)],
                       input_shape=(1, 8, 8))
    names = [layer.name for layer in model.all_layers()]
    assert len(names) == len(set(names)) and None not in names
    # the projection, made while building, is named after every layer the user wrote: it renumbers none of them
    assert names == ["conv2d_1", "residual_1", "conv2d_2", "relu_1", "conv2d_4", "conv2d_3", "flatten_1", "dense_1"]
    assert block.projection.name == "conv2d_4"
    made = [id(layer) for layer in model.all_layers()]
    for layer, shape_in in zip(model.layers, [model.input_shape, *model.output_shapes]):
        for _ in range(2):
            layer.output_shape(shape_in)
    assert [id(layer) for layer in model.all_layers()] == made                      # asking made nothing new
    assert model.parameters.names[:5] == ["conv2d_1.W", "conv2d_2.W", "conv2d_4.W", "conv2d_3.W", "dense_1.W"]


def test_a_network_with_blocks_names_counts_and_checks_shapes(rng):
    model = small_cnn()
    names = [layer.name for layer in model.all_layers()]
    assert len(names) == len(set(names)) and "conv2d_3" in names          # the projection got a name too
    assert model.num_params == (4 * 9 + 4) + 8 + (8 * 36 + 8) + 16 + (8 * 4 + 8) + (8 * 10 + 10)
    assert "Total params: 490" in str(model)
    assert model.forward(to_device(rng.standard_normal((2, 1, 8, 8)).astype(np.float32))).shape == (2, 10)
    with pytest.raises(ValueError, match=r"layer dense_1 \(Dense\) takes inputs of shape \(9,\)"):
        Sequential([Conv2D(1, 2, 3), Flatten(), Dense(9, 2)], input_shape=(1, 8, 8))


def test_model_file_round_trip_with_blocks_and_running_statistics(tmp_path, rng):
    model = small_cnn()
    x = to_device(rng.standard_normal((4, 1, 8, 8)).astype(np.float32))
    model.forward(x, training=True)                                      # moves the running statistics
    save_model(model, tmp_path / "cnn")
    back = load_model(tmp_path / "cnn")
    for name, array in model.buffers().items():
        np.testing.assert_array_equal(to_numpy(back.buffers()[name]), to_numpy(array))
    np.testing.assert_array_equal(back.predict_proba(x), model.predict_proba(x))
    assert str(back) == str(model)
