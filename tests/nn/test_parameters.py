"""The flat parameter vector: shared views, decayed parameters first, and casting only through the network."""

import numpy as np
import pytest

from matnet.backend import to_host, to_numpy, xp
from matnet.nn import BatchNorm, Conv2D, Dense, Flatten, Layer, Network, Parameters, ReLU, Residual


def small_net(dtype=np.float32):
    return Network([Conv2D(1, 2, 3, padding=1), BatchNorm(2), ReLU(), Flatten(), Dense(2 * 4 * 4, 3)],
                   input_shape=(1, 4, 4), dtype=dtype, seed=5)


class Decays1D(Layer):
    """A layer whose decayed parameter is a vector: the flag, not the number of dimensions, decides the order."""

    decayed = ("a",)

    def __init__(self, name=None):
        super().__init__(name)
        self.params = {"w": xp.ones((2, 2), dtype=xp.float32), "a": xp.full(3, 2.0, dtype=xp.float32)}
        self.grads = {key: xp.zeros_like(p) for key, p in self.params.items()}


def test_values_and_grads_are_views_shared_with_the_layers():
    net = small_net()
    p, dense = net.parameters, net.layers[-1]
    span = p.slices[p.names.index("dense_1.W")]
    p.values[span.start] = 3.5
    assert to_host(dense.params["W"][0, 0]) == 3.5                     # vector -> layer
    dense.params["b"][1] = -2
    assert to_host(p.values[p.slices[p.names.index("dense_1.b")]][1]) == -2     # layer -> vector
    p.grads[:] = 0.25
    assert (to_numpy(dense.grads["W"]) == 0.25).all() and (to_numpy(net.layers[1].grads["gamma"]) == 0.25).all()
    dense.grads["b"][...] = 4
    assert (to_numpy(p.grads[p.slices[p.names.index("dense_1.b")]]) == 4).all()
    for name, array in p.arrays().items():
        layer, key = name.split(".")
        assert xp.shares_memory(array, p.values)
        assert xp.shares_memory(next(lay for lay in net.all_layers() if lay.name == layer).params[key], p.values)


def test_decayed_parameters_come_first_then_the_rest_each_in_layer_order():
    net = small_net()
    p = net.parameters
    assert p.names == ["conv2d_1.W", "dense_1.W", "conv2d_1.b", "batchnorm_1.gamma", "batchnorm_1.beta", "dense_1.b"]
    assert p.decays == [True, True, False, False, False, False]
    everything = [(layer.name, key) for layer in net.all_layers() for key in layer.params]
    by_name = {layer.name: layer for layer in net.all_layers()}
    expected = [f"{n}.{k}" for n, k in everything if k in by_name[n].decayed] + \
               [f"{n}.{k}" for n, k in everything if k not in by_name[n].decayed]
    assert p.names == expected
    assert (Dense.decayed, Conv2D.decayed, BatchNorm.decayed, ReLU.decayed, Residual.decayed) == (("W",), ("W",),
                                                                                                  (), (), ())


def test_the_flag_decides_not_the_shape():
    p = Parameters([Dense(2, 1, name="d"), Decays1D(name="odd")])
    assert p.names == ["d.W", "odd.a", "d.b", "odd.w"] and p.decays == [True, True, False, False]
    assert p.n_decayed == 2 + 3


def test_n_decayed_counts_the_decayed_entries_and_they_are_a_prefix():
    p = small_net().parameters
    assert p.n_decayed == 1 * 2 * 3 * 3 + 3 * 32 == sum(s.stop - s.start for s, d in zip(p.slices, p.decays) if d)
    assert all(p.slices[i].stop <= p.n_decayed for i, d in enumerate(p.decays) if d)
    assert all(p.slices[i].start >= p.n_decayed for i, d in enumerate(p.decays) if not d)


def test_names_shapes_and_slices_agree():
    net = small_net()
    p = net.parameters
    assert len(p.names) == len(p.shapes) == len(p.slices) == len(p.decays) == len(set(p.names))
    offset = 0
    for shape, span in zip(p.shapes, p.slices):
        assert span.start == offset and span.stop - span.start == int(np.prod(shape))
        offset = span.stop
    assert offset == len(p) == net.num_params
    assert {name: a.shape for name, a in p.arrays().items()} == dict(zip(p.names, p.shapes))


def test_mixed_dtypes_are_refused():
    wide = Dense(2, 2).astype(np.float64)
    with pytest.raises(ValueError, match=r"mixed dtypes \['float32', 'float64'\]; cast the model first"):
        Parameters([Dense(2, 2), wide])


def test_a_layer_inside_a_network_cannot_cast_itself():
    net = Network([Residual([Dense(3, 2), ReLU()]), Dense(2, 2)], input_shape=(3,))
    for layer in net.all_layers():                                    # the projection and the block's layers too
        assert layer.owner is net.parameters
        with pytest.raises(ValueError, match=r"belongs to a network.*network\.astype\(float64\)"):
            layer.astype(np.float64)
    assert net.parameters.values.dtype == np.float32
    assert all(layer.params[key].dtype == np.float32 for layer in net.all_layers() for key in layer.params)
    alone = Dense(2, 2)
    assert alone.owner is None and alone.astype(np.float64).params["W"].dtype == np.float64


def test_network_astype_rebuilds_the_vector_and_keeps_values_and_order():
    net = small_net()
    net.layers[1].buffers["running_var"][...] = 3
    before, names, old = to_numpy(net.parameters.values).copy(), list(net.parameters.names), net.parameters
    assert net.astype(np.float64) is net
    p = net.parameters
    assert p is not old and p.values.dtype == np.float64 and net.dtype == np.float64
    assert p.names == names and p.n_decayed == old.n_decayed and p.decays == old.decays
    np.testing.assert_array_equal(to_numpy(p.values), before)
    running_var = net.layers[1].buffers["running_var"]
    assert running_var.dtype == np.float64 and (to_numpy(running_var) == 3).all()
    assert all(layer.owner is p for layer in net.all_layers())
    p.values[0] = 9                                                   # the layers follow the new vector
    assert to_host(net.layers[0].params["W"].reshape(-1)[0]) == 9
    with pytest.raises(ValueError, match="network.astype"):
        net.layers[0].astype(np.float32)
    net.astype(np.float32)
    assert net.parameters.values.dtype == np.float32 and to_host(net.parameters.values[0]) == 9


def test_release_lets_the_layers_go():
    layer = Dense(2, 2)
    p = Parameters([layer])
    assert layer.owner is p
    p.release()
    assert layer.owner is None and layer.astype(np.float64).params["W"].dtype == np.float64
