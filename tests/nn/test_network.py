import numpy as np
import pytest

from matnet import Sequential, build_mlp
from matnet.backend import to_device, to_host, to_numpy
from matnet.architectures import build_cnn
from matnet.nn import (Conv2D, Dense, Dropout, Flatten, MeanSquaredError, Network, ReLU, Residual, SoftmaxCrossEntropy,
                       Tanh)
from matnet.nn.gradcheck import TOLERANCE, check_network


def test_summary_counts_the_spec_network():
    model = build_mlp([784, 128, 64, 10])
    text = str(model)
    assert model.num_params == 109_386 == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert "Total params: 109,386" in text
    for row in ("dense_1 (Dense)", "(None, 128)", "100,480", "relu_2 (ReLU)", "8,256", "650"):
        assert row in text


def test_cnn_blocks_follow_filters():
    assert build_cnn().num_params == 421_738    # the cnn preset: 32, 64 channels (no conv bias), 64*7*7 -> 128 -> 10
    model = build_cnn((28, 28), 10, filters=[8, 16, 24], dense=20)
    convs = [shape for layer, shape in zip(model.layers, model.output_shapes) if type(layer).__name__ == "MaxPool2D"]
    assert convs == [(8, 14, 14), (16, 7, 7), (24, 3, 3)]       # each block halves (7 // 2 = 3)
    assert model.num_params == (9 * 8 + 16) + (72 * 16 + 32) + (144 * 24 + 48) \
        + (216 * 20 + 20) + (20 * 10 + 10)    # convs (no bias), BatchNorms (gamma, beta), dense
    with pytest.raises(ValueError, match="5 blocks halve 28x28 images to nothing; use at most 4"):
        build_cnn((28, 28), 10, filters=[4] * 5)


def test_output_shapes_and_probabilities(rng):
    model = Sequential([Dense(6, 5), ReLU(), Dense(5, 3)])
    x = to_device(rng.standard_normal((7, 6)).astype(np.float32))
    assert model.forward(x).shape == (7, 3)
    p = model.predict_proba(x)
    assert p.shape == (7, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x), p.argmax(axis=1))
    assert model.predict_proba(x[0]).shape == (1, 3)  # one sample gets a batch axis


def test_mismatched_layers_are_named():
    with pytest.raises(ValueError, match=r"dense_2 \(Dense\) takes inputs of shape \(64,\) but the layer before "
                                         r"it gives \(128,\)"):
        Sequential([Dense(784, 128), ReLU(), Dense(64, 10)])


def test_wrong_input_shape_for_predict():
    with pytest.raises(ValueError, match=r"^x: the network takes a batch of shape \(N, 4\) .* got shape \(3, 5\)$"):
        Sequential([Dense(4, 2)]).predict(to_device(np.ones((3, 5))))


def test_same_seed_same_weights_different_seed_different():
    a, b, c = build_mlp([10, 8, 3], seed=1), build_mlp([10, 8, 3], seed=1), build_mlp([10, 8, 3], seed=2)
    np.testing.assert_array_equal(to_numpy(a.parameters.values), to_numpy(b.parameters.values))
    assert not np.array_equal(to_numpy(a.parameters.values), to_numpy(c.parameters.values))


def test_parameters_are_views_of_one_flat_vector():
    model = build_mlp([4, 3, 2])
    p = model.parameters
    assert len(p) == model.num_params == 4 * 3 + 3 + 3 * 2 + 2
    assert p.names == ["dense_1.W", "dense_2.W", "dense_1.b", "dense_2.b"]  # weights first: decay is a prefix
    assert p.n_decayed == 4 * 3 + 3 * 2
    p.values[:] = 0.5
    assert (to_numpy(model.layers[0].params["W"]) == 0.5).all() and (to_numpy(model.layers[2].params["b"]) == 0.5).all()
    model.layers[0].params["W"][0, 0] = 7
    assert to_host(p.values[0]) == 7


def test_whole_network_gradients_match_finite_differences(rng):
    net = Network([Dense(5, 4), Tanh(), Dense(4, 4), ReLU(), Dropout(0.25), Dense(4, 3)], seed=3)
    x = to_device(rng.standard_normal((6, 5)))
    errors = check_network(net, x, to_device(rng.integers(0, 3, 6)), SoftmaxCrossEntropy())
    assert set(errors) == set(net.parameters.names) | {"dx"}
    assert max(errors.values()) < TOLERANCE


def test_duplicate_layer_names_rejected():
    with pytest.raises(ValueError, match="named 'a'"):
        Network([Dense(2, 2, name="a"), Dense(2, 2, name="a")])


def test_layers_of_one_network_are_refused_by_another():
    first = Network([Dense(2, 3), ReLU(), Dense(3, 2)])
    with pytest.raises(ValueError, match=r"Dense\(dense_1\), ReLU\(relu_1\), Dense\(dense_2\): already in another "
                                         r"network"):
        Network(first.layers)


def test_a_shape_error_names_the_layer_even_when_blocks_come_first():
    with pytest.raises(ValueError, match=r"layer dense_1 \(Dense\) takes inputs of shape \(10,\) but the layer "
                                         r"before it gives \(32,\)"):
        Network([Residual([Conv2D(1, 2, 3, stride=2, padding=1)]), Flatten(), Dense(10, 2)], input_shape=(1, 8, 8))


def test_ends_in_softmax_is_decided_by_the_last_layer(rng):
    """``Network.ends_in_softmax``, the one place that decides whether the output is already probabilities: then
    ``predict_proba`` applies no second softmax (a Dropout after the Softmax is a last layer of its own)."""
    from matnet.nn import Softmax

    logits = Sequential([Dense(4, 3)], seed=1)
    probabilities = Sequential([Dense(4, 3), Softmax()], seed=1)
    trailing = Sequential([Dense(4, 3), Softmax(), Dropout(0.5)], seed=1)
    assert [m.ends_in_softmax for m in (logits, probabilities, trailing)] == [False, True, False]
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(probabilities.predict_proba(x), logits.predict_proba(x), rtol=1e-6)
    once = probabilities.predict_proba(x)
    twice = np.exp(once) / np.exp(once).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(trailing.predict_proba(x), twice, rtol=1e-5)


def test_inference_flags_are_keywords_with_one_meaning_each(rng):
    """``batch_size`` and ``verbose`` (Sequential) or ``progress`` (the engine's ``forward_batches``) only by name;
    a Sequential answers every call a Network answers, and adds ``verbose``."""
    import inspect

    model = Sequential([Dense(4, 3)], seed=1)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    for call in (lambda: model.predict_proba(x, 2), lambda: model.predict(x, 2),
                 lambda: model.evaluate(x, [0] * 5, None), lambda: list(model.forward_batches(x, 2))):
        with pytest.raises(TypeError, match="positional argument"):
            call()
    np.testing.assert_array_equal(Network.predict_proba(model, x, batch_size=2), model.predict_proba(x, batch_size=2))
    np.testing.assert_array_equal(Network.predict(model, x, batch_size=2), model.predict(x, batch_size=2, verbose=0))
    for name in ("predict_proba", "predict"):
        engine = inspect.signature(getattr(Network, name)).parameters
        user = inspect.signature(getattr(Sequential, name)).parameters
        assert all(user[p] == engine[p] for p in engine) and set(user) - set(engine) == {"verbose"}, name


def test_a_layer_s_own_rng_is_kept_in_a_network():
    """``rng=`` given to a layer is honoured inside a network: Dense and Conv2D keep the weights drawn from it,
    Dropout draws its masks from it; a layer without one is initialised from the network's seed."""
    alone = Dense(3, 4, rng=np.random.default_rng(7))
    generator = np.random.default_rng(8)
    dense, dropout = Dense(3, 4, rng=np.random.default_rng(7)), Dropout(0.5, rng=generator)
    Network([dense, ReLU(), dropout, Dense(4, 2)], seed=3)
    np.testing.assert_array_equal(to_numpy(dense.params["W"]), to_numpy(alone.params["W"]))
    assert dropout.rng is generator
    conv = Conv2D(1, 2, 3, rng=np.random.default_rng(9))
    Network([conv, Flatten(), Dense(2 * 3 * 3, 2)], seed=0, input_shape=(1, 5, 5))
    np.testing.assert_array_equal(to_numpy(conv.params["W"]),
                                  to_numpy(Conv2D(1, 2, 3, rng=np.random.default_rng(9)).params["W"]))
    seeded = Network([Dense(3, 4), ReLU(), Dense(4, 2)], seed=3)     # no rng given: the seed's draws
    assert not np.array_equal(to_numpy(seeded.layers[0].params["W"]), to_numpy(alone.params["W"]))
    np.testing.assert_array_equal(to_numpy(seeded.layers[0].params["W"]),
                                  to_numpy(Network([Dense(3, 4), ReLU(), Dense(4, 2)], seed=3).layers[0].params["W"]))


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_outputs_under_mse_match_finite_differences(output, rng):
    """The output layer build_mlp adds for MSE (a Sigmoid, a Softmax, or none), in float64, every entry of every
    gradient against central differences."""
    net = build_mlp([4, 5, 3], "sigmoid", output=output, loss="mse", init="normal", seed=1)
    assert type(net.layers[-1]).__name__ == {"sigmoid": "Sigmoid", "softmax": "Softmax", "linear": "Dense"}[output]
    errors = check_network(net, to_device(rng.standard_normal((6, 4))), to_device(rng.integers(0, 3, 6)),
                           MeanSquaredError())
    assert set(errors) == set(net.parameters.names) | {"dx"} and max(errors.values()) < TOLERANCE


def test_scores_under_mse_become_probabilities_by_their_sum():
    """A sigmoid's (or a linear output's) scores are each in their own range: clipped at 0, divided by the row's
    sum; a row without a positive score is uniform. Logits (cross-entropy) still go through a softmax."""
    scores = to_device(np.array([[0.9, 0.6, 0.0], [-0.5, 0.25, 0.75], [-1.0, -2.0, -0.1]], dtype=np.float32))
    for output in ("sigmoid", "linear"):
        net = build_mlp([2, 3], output=output, loss="mse")
        assert net.outputs_scores
        np.testing.assert_allclose(to_numpy(net.probabilities(scores)),
                                   [[0.6, 0.4, 0.0], [0.0, 0.25, 0.75], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    for net in (build_mlp([2, 3]), build_mlp([2, 3], output="softmax", loss="mse")):
        assert not net.outputs_scores
    logits = to_device(np.array([[2.0, 1.0, 0.1]]))
    np.testing.assert_allclose(to_numpy(build_mlp([2, 3]).probabilities(logits)), [[0.659001, 0.242433, 0.098566]],
                               atol=1e-6)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        Network([Dense(2, 3)], loss="hinge")
