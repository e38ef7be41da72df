"""cases_attention.py — MultiHeadAttention (compiler/prelude/
multi_head_attention.kl) inside layers against torch (see klc_torch.py): the
projections as einsums over Keras' kernel shapes (query/key/value kernel
[D, heads, key_dim], bias [heads, key_dim]; attention_output kernel
[heads, value_dim, units], bias [units]) and the attention itself by
its explicit formula, softmax(q k^T / sqrt(key_dim)) v per head (this
torch, 1.13, has no scaled_dot_product_attention), with -inf above the
diagonal for the causal mask, which is Keras' lower-triangular mask when
the query and the value have the same length)."""

import torch
import torch.nn.functional as F

from klc_torch import Case

LAYERS = """
layer SelfAttention(heads: int = 2, causal: bool = false) {
    build(x: [N, T, D]) {
        att = MultiHeadAttention(num_heads = heads, key_dim = 3, use_causal_mask = causal);
    }
    call(x) = x + att(x, x);
}

layer CrossAttention() {
    build(x: [N, T, D]) {
        att = MultiHeadAttention(2, 3, value_dim = 2, output_shape = [4], use_bias = false);
        mem_proj = Dense(6, activation = tanh);
    }
    call(x) {
        mem[n, s, d] : [N, 3, D] = x[n, s + 2, d];
        return att(x, mem_proj(mem));
    }
}
"""


def program(input_shape, layers, lr=0.5):
    return LAYERS + (f"model = Sequential([Input(shape = {list(input_shape)}), {', '.join(layers)}]);\n"
                     f"model.compile(optimizer = sgd(learning_rate = {lr}), loss = \"mse\");\n")


def mha(w, p, query, value, causal=False, bias=True):
    def proj(x, name):
        y = torch.einsum("ntd,dhk->nthk", x, w[p + name + ".kernel"])
        return y + w[p + name + ".bias"] if bias else y
    q, k, v = proj(query, "query"), proj(value, "key"), proj(value, "value")
    scores = torch.einsum("nthk,nshk->nhts", q, k) / q.shape[-1] ** 0.5
    if causal:
        t, s = scores.shape[-2], scores.shape[-1]
        above = torch.ones(t, s, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(above, float("-inf"))
    o = torch.einsum("nhts,nshv->nthv", F.softmax(scores, dim=-1), v)
    out = torch.einsum("nthv,hve->nte", o, w[p + "attention_output.kernel"])
    return out + w[p + "attention_output.bias"] if bias else out


def mha_weights(p, d, heads, key_dim, value_dim, units, e=None, bias=True):
    e = d if e is None else e
    w = {p + "query.kernel": (d, heads, key_dim), p + "key.kernel": (e, heads, key_dim),
         p + "value.kernel": (e, heads, value_dim), p + "attention_output.kernel": (heads, value_dim, units)}
    if bias:
        w.update({p + "query.bias": (heads, key_dim), p + "key.bias": (heads, key_dim),
                  p + "value.bias": (heads, value_dim), p + "attention_output.bias": (units,)})
    return w


def dense(w, p, x):
    return x.reshape(x.shape[0], -1) @ w[p + "kernel"] + w[p + "bias"]


def self_case(name, heads, causal, t=4):
    p = "self_attention.multi_head_attention."
    weights = mha_weights(p, 5, heads, 3, 3, 5)
    weights.update({"dense.kernel": (5 * t, 2), "dense.bias": (2,)})
    flag = "true" if causal else "false"
    return Case(name, program([t, 5], [f"SelfAttention(heads = {heads}, causal = {flag})", "Flatten()", "Dense(2)"]),
                x_shape=(3, t, 5), weights=weights,
                forward=lambda w, x, training: dense(w, "dense.", x + mha(w, p, x, x, causal)))


def cross_forward(w, x, training):
    p = "cross_attention.multi_head_attention."
    mem = torch.tanh(x[:, 2:5, :] @ w["cross_attention.dense.kernel"] + w["cross_attention.dense.bias"])
    return dense(w, "dense.", mha(w, p, x, mem, bias=False))


cross_weights = mha_weights("cross_attention.multi_head_attention.", 6, 2, 3, 2, 4, e=6, bias=False)
cross_weights.update({"cross_attention.dense.kernel": (6, 6), "cross_attention.dense.bias": (6,),
                      "dense.kernel": (20, 2), "dense.bias": (2,)})

ARANGE = """
layer Ramp() {
    build(x: [N, T, D]) { pos = Embedding(input_dim = 9, output_dim = D); }
    call(x) = x * arange(1, 8, 2, dtype = "float32") + pos(arange(T)) + sum(arange(T, 0, -2, dtype = "float32"));
}
"""


def ramp_forward(w, x, training):
    t = x.shape[1]
    pos = w["ramp.embedding.embeddings"][torch.arange(t)]
    y = x * torch.arange(1, 8, 2, dtype=torch.float64) + pos + float(sum(range(t, 0, -2)))
    return dense(w, "dense.", y)


CASES = [
    self_case("mha_self", 2, False),
    self_case("mha_causal", 3, True),
    # 37 keys: the float softmax and the backward's row dots in 16 lanes and a tail
    self_case("mha_long", 2, False, t=37),
    self_case("mha_long_causal", 2, True, t=37),
    Case("mha_cross", program([5, 6], ["CrossAttention()", "Flatten()", "Dense(2)"]),
         x_shape=(3, 5, 6), weights=cross_weights, forward=cross_forward),
    # arange: a float ramp, the positions of an embedding, a descending range (summed)
    Case("arange_positions",
         ARANGE + "model = Sequential([Input(shape = [5, 4]), Ramp(), Flatten(), Dense(2)]);\n"
                  "model.compile(optimizer = sgd(learning_rate = 0.5), loss = \"mse\");\n",
         x_shape=(3, 5, 4), weights={"ramp.embedding.embeddings": (9, 4), "dense.kernel": (20, 2), "dense.bias": (2,)},
         forward=ramp_forward),
]
