"""cases_recurrent.py — the prelude's recurrent layers (compiler/prelude/
recurrent.kl, written with scan) against torch.nn.RNN, torch.nn.LSTM and
torch.nn.GRU, in double (see klc_torch.py): the predictions, and the
gradients of one training step (backpropagation through time).

Keras' weights are mapped onto torch's explicitly:
  - torch keeps [4U, D] / [3U, D] matrices (x @ W.T); Keras [D, 4U]: W = kernel.T;
  - LSTM: both order the gates i, f, c(g), o; Keras has one bias, torch two
    (bias_hh is zero);
  - GRU: Keras orders z, r, h, torch r, z, n: the column blocks are permuted;
    reset_after = True is torch's formulation (r applied to W_hn h + b_hn), with
    Keras' bias row 0 as bias_ih and row 1 as bias_hh;  reset_after = False
    (r applied to h before the product) has no torch module and is written out;
  - go_backwards: torch runs on the reversed sequence; the returned sequence
    is in processing order, as Keras returns it."""

import torch

from klc_torch import Case


def program(input_shape, layers, loss="mse", lr=0.5):
    return (f"model = Sequential([Input(shape = {list(input_shape)}), {', '.join(layers)}]);\n"
            f"model.compile(optimizer = sgd(learning_rate = {lr}), loss = \"{loss}\");\n")


def blocks(m, order, u):
    """The column blocks of a Keras [.., k*u] matrix in another order."""
    return torch.cat([m[..., i * u:(i + 1) * u] for i in order], dim=-1)


def run_module(mod, params, x, go_backwards, return_sequences):
    """The torch module run with the given (differentiable) weights: its
    forward reads the list _flat_weights, in the order of _flat_weights_names
    (torch.nn.utils.stateless does not reach the RNN modules in torch 1.13)."""
    if go_backwards:
        x = torch.flip(x, dims=[1])
    mod._flat_weights = [params[name] for name in mod._flat_weights_names]
    out, _ = mod(x)
    return out if return_sequences else out[:, -1]


def rnn(w, key, x, units, use_bias=True, go_backwards=False, return_sequences=False):
    mod = torch.nn.RNN(x.shape[-1], units, batch_first=True, bias=use_bias)
    p = {"weight_ih_l0": w[key + ".kernel"].T, "weight_hh_l0": w[key + ".recurrent_kernel"].T}
    if use_bias:
        p["bias_ih_l0"] = w[key + ".bias"]
        p["bias_hh_l0"] = torch.zeros(units)
    return run_module(mod, p, x, go_backwards, return_sequences)


def lstm(w, key, x, units, use_bias=True, go_backwards=False, return_sequences=False):
    mod = torch.nn.LSTM(x.shape[-1], units, batch_first=True, bias=use_bias)
    p = {"weight_ih_l0": w[key + ".kernel"].T, "weight_hh_l0": w[key + ".recurrent_kernel"].T}
    if use_bias:
        p["bias_ih_l0"] = w[key + ".bias"]
        p["bias_hh_l0"] = torch.zeros(4 * units)
    return run_module(mod, p, x, go_backwards, return_sequences)


def gru(w, key, x, units, use_bias=True, go_backwards=False, return_sequences=False):
    rzn = (1, 0, 2)  # torch's r, z, n from Keras' z, r, h
    mod = torch.nn.GRU(x.shape[-1], units, batch_first=True, bias=use_bias)
    p = {"weight_ih_l0": blocks(w[key + ".kernel"], rzn, units).T,
         "weight_hh_l0": blocks(w[key + ".recurrent_kernel"], rzn, units).T}
    if use_bias:
        p["bias_ih_l0"] = blocks(w[key + ".bias"][0], rzn, units)
        p["bias_hh_l0"] = blocks(w[key + ".bias"][1], rzn, units)
    return run_module(mod, p, x, go_backwards, return_sequences)


def gru_reset_before(w, key, x, units, go_backwards=False, return_sequences=False):
    """Keras' GRU with reset_after = False, written out (no torch module has it)."""
    k, rk, b = w[key + ".kernel"], w[key + ".recurrent_kernel"], w[key + ".bias"]
    u = units
    if go_backwards:
        x = torch.flip(x, dims=[1])
    h = torch.zeros(x.shape[0], u)
    outs = []
    for t in range(x.shape[1]):
        mx = x[:, t] @ k + b
        mh = h @ rk[:, :2 * u]
        z = torch.sigmoid(mx[:, :u] + mh[:, :u])
        r = torch.sigmoid(mx[:, u:2 * u] + mh[:, u:2 * u])
        hh = torch.tanh(mx[:, 2 * u:] + (r * h) @ rk[:, 2 * u:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return torch.stack(outs, dim=1) if return_sequences else h


def dense(w, key, x):
    return x @ w[key + ".kernel"] + w[key + ".bias"]


def weights(key, d, units, gates, bias_shape=None):
    return {key + ".kernel": (d, gates * units), key + ".recurrent_kernel": (units, gates * units),
            key + ".bias": bias_shape or (gates * units,)}


CASES = [
    Case("simple_rnn",
         program([5, 3], ["SimpleRNN(4)"]),
         x_shape=(6, 5, 3), weights=weights("simple_rnn", 3, 4, 1),
         forward=lambda w, x, t: rnn(w, "simple_rnn", x, 4)),
    Case("simple_rnn_sequences_backwards",
         program([6, 3], ["SimpleRNN(3, return_sequences = true, go_backwards = true)"]),
         x_shape=(4, 6, 3), weights=weights("simple_rnn", 3, 3, 1),
         forward=lambda w, x, t: rnn(w, "simple_rnn", x, 3, go_backwards=True, return_sequences=True)),
    Case("lstm",
         program([5, 3], ["LSTM(4)", "Dense(2)"]),
         x_shape=(6, 5, 3), weights={**weights("lstm", 3, 4, 4), "dense.kernel": (4, 2), "dense.bias": (2,)},
         forward=lambda w, x, t: dense(w, "dense", lstm(w, "lstm", x, 4))),
    Case("lstm_sequences",
         program([4, 2], ["LSTM(3, return_sequences = true)"]),
         x_shape=(5, 4, 2), weights=weights("lstm", 2, 3, 4),
         forward=lambda w, x, t: lstm(w, "lstm", x, 3, return_sequences=True)),
    Case("lstm_backwards_long",
         program([25, 2], ["LSTM(3, go_backwards = true)"]),
         x_shape=(4, 25, 2), weights=weights("lstm", 2, 3, 4),
         forward=lambda w, x, t: lstm(w, "lstm", x, 3, go_backwards=True)),
    Case("lstm_no_bias",
         program([4, 3], ["LSTM(2, use_bias = false)"]),
         x_shape=(5, 4, 3), weights={"lstm.kernel": (3, 8), "lstm.recurrent_kernel": (2, 8)},
         forward=lambda w, x, t: lstm(w, "lstm", x, 2, use_bias=False)),
    Case("gru",
         program([5, 3], ["GRU(4)"]),
         x_shape=(6, 5, 3), weights=weights("gru", 3, 4, 3, (2, 12)),
         forward=lambda w, x, t: gru(w, "gru", x, 4)),
    Case("gru_sequences_backwards",
         program([4, 3], ["GRU(3, return_sequences = true, go_backwards = true)"]),
         x_shape=(5, 4, 3), weights=weights("gru", 3, 3, 3, (2, 9)),
         forward=lambda w, x, t: gru(w, "gru", x, 3, go_backwards=True, return_sequences=True)),
    Case("gru_reset_before",
         program([4, 3], ["GRU(3, reset_after = false)"]),
         x_shape=(5, 4, 3), weights=weights("gru", 3, 3, 3),
         forward=lambda w, x, t: gru_reset_before(w, "gru", x, 3)),
    Case("stacked_lstm_gru",
         program([5, 3], ["LSTM(4, return_sequences = true)", "GRU(3)", "Dense(1)"]),
         x_shape=(6, 5, 3),
         weights={**weights("lstm", 3, 4, 4), **weights("gru", 4, 3, 3, (2, 9)), "dense.kernel": (3, 1),
                  "dense.bias": (1,)},
         forward=lambda w, x, t: dense(w, "dense", gru(w, "gru", lstm(w, "lstm", x, 4, return_sequences=True), 3))),
    # TimeDistributed(Dense): the Dense on every step, then an LSTM over the result
    Case("time_distributed_dense_lstm",
         program([5, 3], ["TimeDistributed(Dense(4, activation = relu))", "LSTM(2)"]),
         x_shape=(6, 5, 3),
         weights={"time_distributed.dense.kernel": (3, 4), "time_distributed.dense.bias": (4,),
                  **weights("lstm", 4, 2, 4)},
         forward=lambda w, x, t: lstm(w, "lstm", torch.relu(dense(w, "time_distributed.dense", x)), 2)),
    # Bidirectional: the forward copy over x, the backward copy over x reversed (go_backwards),
    # its sequence flipped back to line up; merged
    Case("bidirectional_lstm_concat_gru_ave",
         program([5, 3], ["Bidirectional(LSTM(3, return_sequences = true))",
                          "Bidirectional(GRU(2), merge_mode = \"ave\")"]),
         x_shape=(6, 5, 3),
         weights={**weights("bidirectional.forward_lstm", 3, 3, 4), **weights("bidirectional.backward_lstm", 3, 3, 4),
                  **weights("bidirectional_1.forward_gru", 6, 2, 3, (2, 6)),
                  **weights("bidirectional_1.backward_gru", 6, 2, 3, (2, 6))},
         forward=lambda w, x, t: bi_ave_gru(w, bi_concat_lstm(w, x))),
    # Keras' names: a named layer's copy is forward_<name>; a given backward layer keeps its own
    Case("bidirectional_named_backward_layer",
         program([5, 3], ["Bidirectional(LSTM(3, name = \"enc\"), merge_mode = \"sum\", "
                          "backward_layer = LSTM(3, go_backwards = true, name = \"dec\"))"]),
         x_shape=(6, 5, 3),
         weights={**weights("bidirectional.forward_enc", 3, 3, 4), **weights("bidirectional.dec", 3, 3, 4)},
         forward=lambda w, x, t: lstm(w, "bidirectional.forward_enc", x, 3) +
                                 lstm(w, "bidirectional.dec", x, 3, go_backwards=True)),
]


def bi_concat_lstm(w, x):
    f = lstm(w, "bidirectional.forward_lstm", x, 3, return_sequences=True)
    b = torch.flip(lstm(w, "bidirectional.backward_lstm", x, 3, go_backwards=True, return_sequences=True), dims=[1])
    return torch.cat([f, b], dim=-1)


def bi_ave_gru(w, x):
    return (gru(w, "bidirectional_1.forward_gru", x, 2) +
            gru(w, "bidirectional_1.backward_gru", x, 2, go_backwards=True)) * 0.5
