"""cases_layers_norm.py — the prelude's normalization layers
(compiler/prelude/normalization.kl) against torch, in double (see
klc_torch.py).  The references are Keras' formulas written out:
inv = rsqrt(var + eps) * gamma; y = x * inv + (beta - mean * inv), with the
biased variance.  BatchNormalization predicts with its moving statistics,
trains with the batch's, and its moving statistics after the step are
compared with Keras' update moving * momentum + batch * (1 - momentum), after
one step and after three."""

import torch

from klc_torch import Case


def program(input_shape, layers, loss="mse", lr=0.5):
    return (f"model = Sequential([Input(shape = {list(input_shape)}), {', '.join(layers)}]);\n"
            f"model.compile(optimizer = sgd(learning_rate = {lr}), loss = \"{loss}\");\n")


def dense(w, key, x):
    return x @ w[key + ".kernel"] + w[key + ".bias"]


def normalize(x, mean, var, eps, gamma=None, beta=None):
    inv = torch.rsqrt(var + eps)
    if gamma is not None:
        inv = inv * gamma
    res = -mean * inv
    if beta is not None:
        res = res + beta
    return x * inv + res


def batch_moments(x):
    axes = tuple(range(x.ndim - 1))
    return torch.mean(x, dim=axes), torch.var(x, dim=axes, unbiased=False)


def bn(w, key, x, training, eps=1e-3, scale=True, center=True):
    if training:
        mean, var = batch_moments(x)
    else:
        mean, var = w[key + ".moving_mean"], w[key + ".moving_variance"]
    return normalize(x, mean, var, eps, w[key + ".gamma"] if scale else None, w[key + ".beta"] if center else None)


def bn_state_after(key, momentum, inp=lambda w, x: x):
    def after(w, x):
        mean, var = batch_moments(inp(w, x).detach())
        return {key + ".moving_mean": w[key + ".moving_mean"].detach() * momentum + mean * (1 - momentum),
                key + ".moving_variance": w[key + ".moving_variance"].detach() * momentum + var * (1 - momentum)}
    return after


def positive(rng, shape):
    return rng.uniform(0.5, 1.5, size=shape)


def ln(x, eps, gamma=None, beta=None):
    mean = torch.mean(x, dim=-1, keepdim=True)
    var = torch.var(x, dim=-1, unbiased=False, keepdim=True)
    return normalize(x, mean, var, eps, gamma, beta)


def gn(x, groups, eps, gamma=None, beta=None):
    n, c = x.shape[0], x.shape[-1]
    xg = x.reshape(n, -1, groups, c // groups)
    mean = torch.mean(xg, dim=(1, 3), keepdim=True)
    var = torch.var(xg, dim=(1, 3), unbiased=False, keepdim=True)
    g = None if gamma is None else gamma.reshape(groups, c // groups)
    b = None if beta is None else beta.reshape(groups, c // groups)
    return normalize(xg, mean, var, eps, g, b).reshape(x.shape)


def bn_axis(w, key, x, training, axis, eps=1e-3):
    """BatchNormalization over `axis`: the [C] statistics reshaped to the broadcast shape (Keras)."""
    axes = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    if training:
        mean, var = torch.mean(x, dim=axes), torch.var(x, dim=axes, unbiased=False)
    else:
        mean, var = w[key + ".moving_mean"], w[key + ".moving_variance"]
    r = lambda v: v.reshape(shape)
    return normalize(x, r(mean), r(var), eps, r(w[key + ".gamma"]), r(w[key + ".beta"]))


def bn_axis_state_after(key, momentum, axis):
    def after(w, x):
        axes = tuple(i for i in range(x.ndim) if i != axis)
        mean, var = torch.mean(x, dim=axes), torch.var(x, dim=axes, unbiased=False)
        return {key + ".moving_mean": w[key + ".moving_mean"].detach() * momentum + mean * (1 - momentum),
                key + ".moving_variance": w[key + ".moving_variance"].detach() * momentum + var * (1 - momentum)}
    return after


def ln_axes(x, axes, eps, gamma, beta):
    """LayerNormalization over several axes; gamma, beta shaped as those axes, broadcast (Keras)."""
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    mean = torch.mean(x, dim=axes, keepdim=True)
    var = torch.var(x, dim=axes, unbiased=False, keepdim=True)
    return normalize(x, mean, var, eps, gamma.reshape(shape), beta.reshape(shape))


def gn_axis1(x, groups, eps, gamma, beta):
    """GroupNormalization of [n, C, t] over axis 1: groups of C / groups channels (Keras' reshape)."""
    n, c, t = x.shape
    xg = x.reshape(n, groups, c // groups, t)
    mean = torch.mean(xg, dim=(2, 3), keepdim=True)
    var = torch.var(xg, dim=(2, 3), unbiased=False, keepdim=True)
    shape = (1, groups, c // groups, 1)
    return normalize(xg, mean, var, eps, gamma.reshape(shape), beta.reshape(shape)).reshape(x.shape)


BN = {"batch_normalization.gamma": (3,), "batch_normalization.beta": (3,),
      "batch_normalization.moving_mean": (3,), "batch_normalization.moving_variance": (3,)}
BN_STATE = ("batch_normalization.moving_mean", "batch_normalization.moving_variance")

CASES = [
    Case("batch_norm_rank2",
         program([3], ["BatchNormalization()"]),
         x_shape=(6, 3), weights=BN, state=BN_STATE,
         init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: bn(w, "batch_normalization", x, t),
         state_after=bn_state_after("batch_normalization", 0.99)),
    Case("batch_norm_after_dense",
         program([4], ["Dense(3)", "BatchNormalization(momentum = 0.9, epsilon = 0.01)", "Dense(2)"]),
         x_shape=(5, 4),
         weights={"dense.kernel": (4, 3), "dense.bias": (3,), **BN, "dense_1.kernel": (3, 2), "dense_1.bias": (2,)},
         state=BN_STATE, init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: dense(w, "dense_1", bn(w, "batch_normalization", dense(w, "dense", x), t, eps=0.01)),
         state_after=bn_state_after("batch_normalization", 0.9, lambda w, x: dense(w, "dense", x))),
    # three full-batch steps: the moving statistics follow Keras' update step after step, from the
    # Dense weights as they are before each step
    Case("batch_norm_three_steps",
         program([4], ["Dense(3)", "BatchNormalization(momentum = 0.8)", "Dense(2)"], lr=0.1),
         x_shape=(5, 4), steps=3, lr=0.1,
         weights={"dense.kernel": (4, 3), "dense.bias": (3,), **BN, "dense_1.kernel": (3, 2), "dense_1.bias": (2,)},
         state=BN_STATE, init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: dense(w, "dense_1", bn(w, "batch_normalization", dense(w, "dense", x), t)),
         state_after=bn_state_after("batch_normalization", 0.8, lambda w, x: dense(w, "dense", x))),
    Case("batch_norm_rank4",
         program([3, 2, 3], ["BatchNormalization(axis = 3, momentum = 0.5)"]),
         x_shape=(2, 3, 2, 3), weights=BN, state=BN_STATE,
         init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: bn(w, "batch_normalization", x, t),
         state_after=bn_state_after("batch_normalization", 0.5)),
    Case("batch_norm_no_scale_no_center",
         program([2, 3], ["Dense(3)", "BatchNormalization(scale = false, center = false)"]),
         x_shape=(4, 2, 3),
         weights={"dense.kernel": (3, 3), "dense.bias": (3,),
                  "batch_normalization.moving_mean": (3,), "batch_normalization.moving_variance": (3,)},
         state=BN_STATE, init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: bn(w, "batch_normalization", dense(w, "dense", x), t, scale=False, center=False),
         state_after=bn_state_after("batch_normalization", 0.99, lambda w, x: dense(w, "dense", x))),
    Case("batch_norm_axis1",
         program([3, 2], ["BatchNormalization(axis = 1, momentum = 0.5)"]),
         x_shape=(4, 3, 2), weights=BN, state=BN_STATE,
         init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: bn_axis(w, "batch_normalization", x, t, 1),
         state_after=bn_axis_state_after("batch_normalization", 0.5, 1)),
    Case("batch_norm_axis_neg2_rank4",
         program([2, 3, 2], ["BatchNormalization(axis = -2, momentum = 0.9)"]),
         x_shape=(3, 2, 3, 2), weights=BN, state=BN_STATE,
         init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: bn_axis(w, "batch_normalization", x, t, 2),
         state_after=bn_axis_state_after("batch_normalization", 0.9, 2)),
    # trainable = false: Keras' `training and self.trainable` is false, so the step normalizes
    # with the moving statistics and leaves them as they are
    Case("batch_norm_frozen",
         program([4], ["Dense(3)", "BatchNormalization(trainable = false)", "Dense(2)"]),
         x_shape=(5, 4),
         weights={"dense.kernel": (4, 3), "dense.bias": (3,), **BN, "dense_1.kernel": (3, 2), "dense_1.bias": (2,)},
         state=tuple(BN), init={"batch_normalization.moving_variance": positive},
         forward=lambda w, x, t: dense(w, "dense_1", bn(w, "batch_normalization", dense(w, "dense", x), False)),
         state_after=lambda w, x: {k: w[k].detach() for k in BN}),
    Case("layer_norm",
         program([4], ["Dense(5)", "LayerNormalization()"]),
         x_shape=(4, 4),
         weights={"dense.kernel": (4, 5), "dense.bias": (5,),
                  "layer_normalization.gamma": (5,), "layer_normalization.beta": (5,)},
         forward=lambda w, x, t: ln(dense(w, "dense", x), 1e-3, w["layer_normalization.gamma"],
                                    w["layer_normalization.beta"])),
    # a row of 40: the float row sums (mean, variance, the backward's dots)
    # run in 16 lanes and a tail
    Case("layer_norm_long_rows",
         program([40], ["Dense(40)", "LayerNormalization()"]),
         x_shape=(3, 40), weights={"dense.kernel": (40, 40), "dense.bias": (40,),
                                   "layer_normalization.gamma": (40,), "layer_normalization.beta": (40,)},
         forward=lambda w, x, t: ln(dense(w, "dense", x), 1e-3, w["layer_normalization.gamma"],
                                    w["layer_normalization.beta"])),
    Case("layer_norm_rank3_no_center",
         program([3, 4], ["LayerNormalization(epsilon = 0.1, center = false)"]),
         x_shape=(3, 3, 4), weights={"layer_normalization.gamma": (4,)},
         forward=lambda w, x, t: ln(x, 0.1, w["layer_normalization.gamma"])),
    Case("layer_norm_axis1",
         program([3, 2], ["LayerNormalization(axis = 1)"]),
         x_shape=(4, 3, 2), weights={"layer_normalization.gamma": (3,), "layer_normalization.beta": (3,)},
         forward=lambda w, x, t: ln_axes(x, (1,), 1e-3, w["layer_normalization.gamma"],
                                         w["layer_normalization.beta"])),
    Case("layer_norm_two_axes",
         program([2, 3, 4], ["LayerNormalization(axis = [-1, 1])"]),
         x_shape=(3, 2, 3, 4), weights={"layer_normalization.gamma": (2, 4), "layer_normalization.beta": (2, 4)},
         forward=lambda w, x, t: ln_axes(x, (1, 3), 1e-3, w["layer_normalization.gamma"],
                                         w["layer_normalization.beta"])),
    Case("group_norm_axis1",
         program([4, 3], ["GroupNormalization(2, axis = 1)"]),
         x_shape=(3, 4, 3), weights={"group_normalization.gamma": (4,), "group_normalization.beta": (4,)},
         forward=lambda w, x, t: gn_axis1(x, 2, 1e-3, w["group_normalization.gamma"],
                                          w["group_normalization.beta"])),
    Case("group_norm",
         program([3, 6], ["Dense(6)", "GroupNormalization(3)"]),
         x_shape=(3, 3, 6),
         weights={"dense.kernel": (6, 6), "dense.bias": (6,),
                  "group_normalization.gamma": (6,), "group_normalization.beta": (6,)},
         forward=lambda w, x, t: gn(dense(w, "dense", x), 3, 1e-3, w["group_normalization.gamma"],
                                    w["group_normalization.beta"])),
    Case("group_norm_instance_rank4",
         program([2, 3, 4], ["GroupNormalization(-1, epsilon = 0.01, scale = false)"]),
         x_shape=(2, 2, 3, 4), weights={"group_normalization.beta": (4,)},
         forward=lambda w, x, t: gn(x, 4, 0.01, None, w["group_normalization.beta"])),
    Case("unit_norm",
         program([5], ["Dense(4)", "UnitNormalization()"]),
         x_shape=(4, 5), weights={"dense.kernel": (5, 4), "dense.bias": (4,)},
         forward=lambda w, x, t: (lambda h: h * torch.rsqrt(torch.clamp(torch.sum(h * h, dim=-1, keepdim=True),
                                                                         min=1e-24)))(dense(w, "dense", x))),
    Case("unit_norm_axes",
         program([2, 3], ["Dense(3)", "UnitNormalization(axis = [1, 2])"]),
         x_shape=(3, 2, 3), weights={"dense.kernel": (3, 3), "dense.bias": (3,)},
         forward=lambda w, x, t: (lambda h: h * torch.rsqrt(torch.clamp(torch.sum(h * h, dim=(1, 2), keepdim=True),
                                                                         min=1e-24)))(dense(w, "dense", x))),
]
