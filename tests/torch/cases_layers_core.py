"""cases_layers_core.py — the prelude's activation, core, reshaping and
regularization layers (compiler/prelude/activations.kl, core.kl,
reshaping.kl, regularization.kl) against torch.nn.functional (see
klc_torch.py).  Deterministic layers: forward and one SGD step's gradients.
Noise layers: the forward pass at inference (the identity), and the
training step's statistics: a layer Mul (y = u * v) after the noise makes
the implied gradient of v measure the second moment of the noisy u."""

import numpy as np
import torch
import torch.nn.functional as F

from klc_torch import Case


def program(input_shape, layers, lr=0.5, dtype=None, prefix=""):
    inp = f"Input(shape = {list(input_shape)}" + (f', dtype = "{dtype}"' if dtype else "") + ")"
    return (prefix + f"model = Sequential([{inp}, {', '.join(layers)}]);\n"
            f"model.compile(optimizer = sgd(learning_rate = {lr}), loss = \"mse\");\n")


def dense(w, x, name="dense"):
    return x @ w[f"{name}.kernel"] + w[f"{name}.bias"]


def dense_then(layer, fn, in_shape, units, batch=5, extra=None, **kw):
    """Dense(units) then the layer: the gradients of the Dense flow through it."""
    name = kw.pop("name")
    return Case(name, program(in_shape, [f"Dense({units})", layer]),
                x_shape=(batch, *in_shape),
                weights={"dense.kernel": (in_shape[-1], units), "dense.bias": (units,)},
                forward=lambda w, x, training: fn(dense(w, x)), extra_loss=extra, **kw)


def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.relu written independently with torch's pieces."""
    y = F.threshold(x, threshold, 0.0) if threshold != 0 else F.relu(x)
    if max_value is not None:
        y = torch.clamp(y, 0.0, max_value)
    if negative_slope != 0:
        y = y - negative_slope * F.relu(threshold - x)
    return y


def pad1d(l, r):
    return lambda x: F.pad(x, (0, 0, l, r))


def pad2d(t, b, l, r):
    return lambda x: F.pad(x, (0, 0, l, r, t, b))


def up2d(sh, sw):
    return lambda x: F.interpolate(x.permute(0, 3, 1, 2), scale_factor=(sh, sw), mode="nearest").permute(0, 2, 3, 1)


CASES = [
    # activations
    dense_then("ReLU()", F.relu, [4], 6, name="relu"),
    dense_then("ReLU(max_value = 6)", lambda h: torch.clamp(h, 0, 6), [4], 6, name="relu6",
               init={"dense.kernel": lambda rng, s: 4 * rng.normal(size=s)}),
    dense_then("ReLU(max_value = 0.5)", lambda h: torch.clamp(h, 0, 0.5), [4], 6, name="relu_max"),
    dense_then("ReLU(negative_slope = 0.2)", lambda h: F.leaky_relu(h, 0.2), [4], 6, name="relu_slope"),
    dense_then("ReLU(threshold = 0.3)", lambda h: F.threshold(h, 0.3, 0.0), [4], 6, name="relu_threshold"),
    dense_then("ReLU(max_value = 0.8, negative_slope = 0.1, threshold = 0.2)",
               lambda h: keras_relu(h, 0.1, 0.8, 0.2), [4], 6, name="relu_all"),
    dense_then("ReLU(max_value = 0.6, negative_slope = 0.3)",
               lambda h: torch.where(h > 0, torch.clamp(h, max=0.6), 0.3 * h), [4], 6, name="relu_slope_max"),
    dense_then("LeakyReLU()", lambda h: F.leaky_relu(h, 0.3), [4], 6, name="leaky_relu"),
    dense_then("LeakyReLU(negative_slope = 0.05)", lambda h: F.leaky_relu(h, 0.05), [4], 6, name="leaky_relu_slope"),
    dense_then("ELU()", F.elu, [4], 6, name="elu"),
    dense_then("ELU(alpha = 0.4)", lambda h: F.elu(h, 0.4), [4], 6, name="elu_alpha"),
    Case("prelu", program([4], ["Dense(5)", "PReLU()"]), x_shape=(6, 4),
         weights={"dense.kernel": (4, 5), "dense.bias": (5,), "p_re_lu.alpha": (5,)},
         forward=lambda w, x, training: F.prelu(dense(w, x), w["p_re_lu.alpha"])),
    Case("prelu_shared_l2", program([4], ["Dense(5)", "PReLU(shared_axes = [1], alpha_regularizer = l2(0.1))"]),
         x_shape=(6, 4), weights={"dense.kernel": (4, 5), "dense.bias": (5,), "p_re_lu.alpha": (1,)},
         forward=lambda w, x, training: F.prelu(dense(w, x), w["p_re_lu.alpha"]),
         extra_loss=lambda w, x: 0.1 * torch.sum(w["p_re_lu.alpha"] ** 2)),
    Case("prelu_rank3", program([2, 3], ["Dense(4)", "PReLU()"]), x_shape=(5, 2, 3),
         weights={"dense.kernel": (3, 4), "dense.bias": (4,), "p_re_lu.alpha": (2, 4)},
         forward=lambda w, x, training: (lambda h: F.relu(h) - w["p_re_lu.alpha"] * F.relu(-h))(dense(w, x))),
    Case("prelu_rank4_shared", program([2, 3, 2], ["Dense(3)", "PReLU(shared_axes = [1, 2])"]), x_shape=(4, 2, 3, 2),
         weights={"dense.kernel": (2, 3), "dense.bias": (3,), "p_re_lu.alpha": (1, 1, 3)},
         forward=lambda w, x, training: (lambda h: F.relu(h) - w["p_re_lu.alpha"] * F.relu(-h))(dense(w, x))),
    dense_then("Softmax()", lambda h: F.softmax(h, dim=-1), [3, 4], 5, name="softmax"),
    dense_then("Softmax(axis = 1)", lambda h: F.softmax(h, dim=1), [3, 4], 5, name="softmax_axis1"),
    dense_then("Softmax(axis = (1, 2))", lambda h: torch.exp(h - torch.logsumexp(h, dim=(1, 2), keepdim=True)),
               [3, 4], 5, name="softmax_two_axes"),
    # core
    dense_then("Identity()", lambda h: h, [4], 3, name="identity"),
    dense_then("Rescaling(0.5, offset = -0.25)", lambda h: h * 0.5 - 0.25, [4], 3, name="rescaling"),
    Case("rescaling_int", program([3], ["Rescaling(2.0, offset = 1.0)", "Dense(2)"], dtype="int32"),
         x_shape=(5, 3), x_kind="ids:7", weights={"dense.kernel": (3, 2), "dense.bias": (2,)},
         forward=lambda w, x, training: dense(w, x.double() * 2.0 + 1.0)),
    Case("embedding", program([4], ["Embedding(6, 3)"], dtype="int32"), x_shape=(5, 4), x_kind="ids:6",
         weights={"embedding.embeddings": (6, 3)},
         forward=lambda w, x, training: F.embedding(x, w["embedding.embeddings"])),
    Case("embedding_rank3_l1", program([2, 3], ["Embedding(5, 2, embeddings_regularizer = l1(0.01))"], dtype="int32"),
         x_shape=(4, 2, 3), x_kind="ids:5", weights={"embedding.embeddings": (5, 2)},
         forward=lambda w, x, training: F.embedding(x, w["embedding.embeddings"]),
         extra_loss=lambda w, x: 0.01 * torch.sum(torch.abs(w["embedding.embeddings"]))),
    dense_then("Reshape((2, 3))", lambda h: h.reshape(h.shape[0], 2, 3), [4], 6, name="reshape"),
    dense_then("Reshape((-1, 2))", lambda h: h.reshape(h.shape[0], -1, 2), [4], 6, name="reshape_infer"),
    dense_then("Permute((2, 1))", lambda h: h.permute(0, 2, 1), [2, 3], 4, name="permute"),
    dense_then("Permute((3, 1, 2))", lambda h: h.permute(0, 3, 1, 2), [2, 3, 2], 3, name="permute3"),
    dense_then("RepeatVector(3)", lambda h: h.unsqueeze(1).expand(-1, 3, -1), [4], 2, name="repeat_vector"),
    # reshaping
    dense_then("ZeroPadding1D()", pad1d(1, 1), [3, 2], 2, name="zero_padding1d"),
    dense_then("ZeroPadding1D((2, 0))", pad1d(2, 0), [3, 2], 2, name="zero_padding1d_pair"),
    dense_then("ZeroPadding1D(padding = 3)", pad1d(3, 3), [3, 2], 2, name="zero_padding1d_int"),
    dense_then("ZeroPadding2D()", pad2d(1, 1, 1, 1), [2, 3, 2], 2, name="zero_padding2d"),
    dense_then("ZeroPadding2D(((1, 0), (0, 2)))", pad2d(1, 0, 0, 2), [2, 3, 2], 2, name="zero_padding2d_nested"),
    dense_then("ZeroPadding2D(2)", pad2d(2, 2, 2, 2), [2, 2, 1], 2, name="zero_padding2d_int"),
    dense_then("ZeroPadding2D((1, 2))", pad2d(1, 1, 2, 2), [2, 3, 2], 2, name="zero_padding2d_flat"),
    dense_then("ZeroPadding2D(((1, 0), 2))", pad2d(1, 0, 2, 2), [2, 3, 2], 2, name="zero_padding2d_mixed"),
    dense_then("Cropping1D()", lambda h: h[:, 1:-1], [5, 2], 2, name="cropping1d"),
    dense_then("Cropping1D(2)", lambda h: h[:, 2:-2], [5, 2], 2, name="cropping1d_int"),
    dense_then("Cropping1D((0, 3))", lambda h: h[:, :-3], [5, 2], 2, name="cropping1d_pair"),
    dense_then("Cropping2D()", lambda h: h, [3, 4, 2], 2, name="cropping2d"),
    dense_then("Cropping2D(((1, 0), (1, 2)))", lambda h: h[:, 1:, 1:-2], [3, 4, 2], 2, name="cropping2d_nested"),
    dense_then("Cropping2D(1)", lambda h: h[:, 1:-1, 1:-1], [3, 4, 2], 2, name="cropping2d_int"),
    dense_then("Cropping2D((1, 0))", lambda h: h[:, 1:-1], [3, 4, 2], 2, name="cropping2d_flat"),
    dense_then("Cropping2D((1, (0, 2)))", lambda h: h[:, 1:-1, :-2], [3, 4, 2], 2, name="cropping2d_mixed"),
    dense_then("UpSampling1D()", lambda h: torch.repeat_interleave(h, 2, dim=1), [3, 2], 2, name="up_sampling1d"),
    dense_then("UpSampling1D(size = 3)", lambda h: torch.repeat_interleave(h, 3, dim=1), [2, 2], 2,
               name="up_sampling1d_3"),
    dense_then("UpSampling2D()", up2d(2, 2), [2, 3, 2], 2, name="up_sampling2d"),
    dense_then("UpSampling2D(size = (1, 3))", up2d(1, 3), [2, 2, 1], 2, name="up_sampling2d_pair"),
    dense_then("UpSampling2D(3, interpolation = \"nearest\")", up2d(3, 3), [2, 2, 1], 2, name="up_sampling2d_int"),
    # regularization
    dense_then("ActivityRegularization(l1 = 0.1, l2 = 0.2)", lambda h: h, [4], 3, name="activity_regularization",
               extra=lambda w, x: (0.1 * torch.sum(torch.abs(dense(w, x))) + 0.2 * torch.sum(dense(w, x) ** 2))
               / x.shape[0]),
    dense_then("ActivityRegularization(l2 = 0.3)", lambda h: h, [4], 3, name="activity_regularization_l2",
               extra=lambda w, x: 0.3 * torch.sum(dense(w, x) ** 2) / x.shape[0]),
]

# The noise layers with no noise: the identity in training too.
for layer, shape in [("GaussianNoise(0.0)", [4]), ("GaussianDropout(0.0)", [4]),
                     ("SpatialDropout1D(0.0)", [3, 4]), ("SpatialDropout2D(0.0)", [2, 2, 3])]:
    CASES.append(dense_then(layer, lambda h: h, shape, shape[-1], name=layer.split("(")[0].lower() + "_zero"))

MUL = """
layer Mul() {
    build(x: [N, ..., D]) { v = add_weight(shape = [D]); }
    call(x) = x * v;
}
"""


def moment_check(extra_var, m2, rel):
    """The noisy input u = noise(x) reaches y = u * v; the mse step's
    gradient of v gives sum_c v_c (g_c E/2 + sum t u) = sum_c v_c^2 sum u^2,
    whose expectation is sum_c v_c^2 (m2 sum x^2 + extra_var * count)."""
    def check(w, implied, x, y):
        v, g = w["mul.v"], implied["mul.v"]
        elems = y.size
        axes = tuple(range(x.ndim - 1))
        tx = np.sum(y * x, axis=axes)            # E[sum t u] = sum t x (the noise has mean 1 or 0)
        observed = np.sum(v * (g * elems / 2 + tx))
        count = x.size // x.shape[-1]
        want = np.sum(v ** 2 * (m2 * np.sum(x ** 2, axis=axes) + extra_var * count))
        base = np.sum(v ** 2 * np.sum(x ** 2, axis=axes))   # what no noise would give
        if abs(observed - want) > rel * abs(want - base if want != base else want):
            return [f"training statistics: sum v^2 u^2 is {observed:.6g}, expected {want:.6g} "
                    f"(without noise {base:.6g})"]
        return []
    return check


def noise_case(name, layer, shape, batch, extra_var, m2, rel):
    return Case(name, MUL + program(shape, [layer, "Mul()"], lr=0.01), x_shape=(batch, *shape),
                weights={"mul.v": (shape[-1],)}, forward=lambda w, x, training: x * w["mul.v"],
                step_check=moment_check(extra_var, m2, rel), weight_scale=1.0, lr=0.01)


# Training statistics: E[u^2] = x^2 + stddev^2 (GaussianNoise), x^2 (1 + rate / (1 - rate))
# (GaussianDropout), x^2 / (1 - rate) (the spatial dropouts).  Tolerances are a few
# standard deviations of the estimate, relative to what the noise adds.
CASES += [
    noise_case("gaussian_noise_train", "GaussianNoise(0.5)", [4], 4096, 0.25, 1.0, 0.25),
    noise_case("gaussian_dropout_train", "GaussianDropout(0.5)", [4], 4096, 0.0, 2.0, 0.2),
    noise_case("spatial_dropout1d_train", "SpatialDropout1D(0.5)", [3, 4], 2048, 0.0, 2.0, 0.2),
    noise_case("spatial_dropout2d_train", "SpatialDropout2D(0.25, data_format = \"channels_last\")", [2, 2, 3], 2048,
               0.0, 4.0 / 3.0, 0.3),
]
