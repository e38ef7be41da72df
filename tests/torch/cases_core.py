"""cases_core.py — the prelude's core layers (compiler/prelude/core.kl) and
index comprehensions against torch.nn.functional (see klc_torch.py)."""

import torch
import torch.nn.functional as F

from klc_torch import Case


def program(input_shape, layers, loss="mse", lr=0.5, dtype=None):
    inp = f"Input(shape = {list(input_shape)}" + (f', dtype = "{dtype}"' if dtype else "") + ")"
    return (f"model = Sequential([{inp}, {', '.join(layers)}]);\n"
            f"model.compile(optimizer = sgd(learning_rate = {lr}), loss = \"{loss}\");\n")


CASES = [
    Case("dense_relu",
         program([5], ["Dense(4, activation = relu)"]),
         x_shape=(6, 5), weights={"dense.kernel": (5, 4), "dense.bias": (4,)},
         forward=lambda w, x, training: F.relu(x @ w["dense.kernel"] + w["dense.bias"])),
    Case("dense_rank3_no_bias",
         program([3, 5], ["Dense(2, use_bias = false)"]),
         x_shape=(4, 3, 5), weights={"dense.kernel": (5, 2)},
         forward=lambda w, x, training: x @ w["dense.kernel"]),
    Case("dense_softmax_scce",
         program([6], ["Dense(3, activation = tanh)", "Dense(4, activation = softmax)"],
                 loss="sparse_categorical_crossentropy"),
         x_shape=(8, 6), loss="sparse_categorical_crossentropy", classes=4,
         weights={"dense.kernel": (6, 3), "dense.bias": (3,), "dense_1.kernel": (3, 4), "dense_1.bias": (4,)},
         forward=lambda w, x, training: F.softmax(
             torch.tanh(x @ w["dense.kernel"] + w["dense.bias"]) @ w["dense_1.kernel"] + w["dense_1.bias"], dim=-1)),
    Case("flatten_activation",
         program([2, 3], ["Flatten()", "Activation(sigmoid)", "Dense(2)"]),
         x_shape=(5, 2, 3), weights={"dense.kernel": (6, 2), "dense.bias": (2,)},
         forward=lambda w, x, training: torch.sigmoid(x.reshape(x.shape[0], -1)) @ w["dense.kernel"]
         + w["dense.bias"]),
    Case("conv1d_comprehension",
         """
layer Conv(filters: int, k: int = 3, strides: int = 1) {
    build(x: [N, T, C]) {
        L = (T - k) // strides + 1;
        kernel = add_weight(shape = [k, C, filters]);
        bias = add_weight(shape = [filters]);
    }
    call(x) {
        y[n, t, f] : [N, L, filters] = sum[j, c](x[n, t * strides + j, c] * kernel[j, c, f]);
        return y + bias;
    }
}
""" + program([9, 2], ["Conv(3, strides = 2)"]),
         x_shape=(3, 9, 2), weights={"conv.kernel": (3, 2, 3), "conv.bias": (3,)},
         # Keras kernels are [k, in, out]; torch's conv1d wants [out, in, k] on [N, C, T]
         forward=lambda w, x, training: F.conv1d(x.permute(0, 2, 1), w["conv.kernel"].permute(2, 1, 0),
                                                 w["conv.bias"], stride=2).permute(0, 2, 1)),
]
