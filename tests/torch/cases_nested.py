"""cases_nested.py — layers that hold layers (sub-layers created in build()
and called in call()) against the same computation in torch (see
klc_torch.py).  The weights are loaded and saved under their nested keys,
<layer>.<sub-layer>.<weight> (Keras' variable.path with '.' for '/'), so
these cases test the keys in the files too."""

import torch
import torch.nn.functional as F

from klc_torch import Case

RESIDUAL = """
layer Residual(units: int) {
    build(x: [N, D]) {
        d1 = Dense(units, activation = relu);
        d2 = Dense(D);
    }
    call(x) = x + d2(d1(x));
}
"""

TOWER = RESIDUAL + """
layer Tower(units: int) {
    build(x: [N, D]) {
        block = Residual(units);
        shared = Dense(D, activation = tanh);
    }
    call(x) = shared(block(shared(x)));
}
"""


def program(input_shape, layers, loss="mse", lr=0.5):
    return (f"model = Sequential([Input(shape = {list(input_shape)}), {', '.join(layers)}]);\n"
            f"model.compile(optimizer = sgd(learning_rate = {lr}), loss = \"{loss}\");\n")


def residual(w, x, p):
    h = F.relu(x @ w[p + "dense.kernel"] + w[p + "dense.bias"])
    return x + h @ w[p + "dense_1.kernel"] + w[p + "dense_1.bias"]


def tower(w, x):
    def shared(h):
        return torch.tanh(h @ w["tower.dense.kernel"] + w["tower.dense.bias"])
    return shared(residual(w, shared(x), "tower.residual."))


CASES = [
    Case("nested_residual",
         RESIDUAL + program([5], ["Residual(4)", "Dense(2)"]),
         x_shape=(6, 5),
         weights={"residual.dense.kernel": (5, 4), "residual.dense.bias": (4,),
                  "residual.dense_1.kernel": (4, 5), "residual.dense_1.bias": (5,),
                  "dense.kernel": (5, 2), "dense.bias": (2,)},
         forward=lambda w, x, training: residual(w, x, "residual.") @ w["dense.kernel"] + w["dense.bias"]),
    Case("nested_depth3_shared",
         TOWER + program([4], ["Tower(3)"]),
         x_shape=(5, 4),
         weights={"tower.residual.dense.kernel": (4, 3), "tower.residual.dense.bias": (3,),
                  "tower.residual.dense_1.kernel": (3, 4), "tower.residual.dense_1.bias": (4,),
                  "tower.dense.kernel": (4, 4), "tower.dense.bias": (4,)},
         forward=lambda w, x, training: tower(w, x)),
]
