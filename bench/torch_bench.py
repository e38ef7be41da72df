"""torch_bench.py — the same models trained with PyTorch, for bench/run.sh.

    python3 torch_bench.py seed|mlp|cnn|lstm|transformer EPOCHS ROWS

Same architecture, initial distributions, loss (crossentropy from the
logits), optimizer (Adam, lr 1e-3, betas 0.9/0.999, eps 1e-7), batch size and
data generator as klc_bench.c; one thread; the data reshuffled every epoch.
Prints one line per epoch: "torch <model> <samples/s>".
"""
import math
import sys
import time

import torch

torch.set_num_threads(1)


def data(rows, inputs, classes):
    g = torch.Generator().manual_seed(12345)
    x = torch.randn(rows, inputs, generator=g)
    y = torch.randint(0, classes, (rows,), generator=g)
    return x, y


def model(name):
    if name == "seed":
        first = torch.nn.Linear(784, 64, bias=False)
        torch.nn.init.uniform_(first.weight, -0.05, 0.05)
        net = torch.nn.Sequential(first, torch.nn.ReLU(), torch.nn.Linear(64, 10))
        return net, 32
    if name == "mlp":
        net = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                                  torch.nn.ReLU(), torch.nn.Linear(1024, 10))
        return net, 256
    if name == "cnn":  # the keras.io MNIST convnet, channels first for torch.nn.Conv2d
        net = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 28, 28)), torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(),
                                  torch.nn.MaxPool2d(2), torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(),
                                  torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Dropout(0.5),
                                  torch.nn.Linear(1600, 10))
        return net, 128
    if name == "lstm":  # LSTM(64) over 50 steps of 16 features, the last state into Dense(10)
        return LastState(), 32
    if name == "transformer":
        return TextTransformer(), 32
    raise SystemExit(f"unknown model {name}")


class LastState(torch.nn.Module):
    """Keras' LSTM(64) (return_sequences = false) then Dense(10): torch.nn.LSTM
    (gates i, f, g, o; Keras' i, f, c, o), the last step's h into a Linear."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.LSTM(16, 64, batch_first=True)
        self.out = torch.nn.Linear(64, 10)
        for w in (self.rnn.weight_ih_l0,):
            torch.nn.init.xavier_uniform_(w)
        torch.nn.init.orthogonal_(self.rnn.weight_hh_l0)
        torch.nn.init.zeros_(self.rnn.bias_ih_l0)
        torch.nn.init.zeros_(self.rnn.bias_hh_l0)
        with torch.no_grad():  # unit_forget_bias
            self.rnn.bias_ih_l0[64:128] = 1.0

    def forward(self, x):
        h, _ = self.rnn(x.view(-1, 50, 16))
        return self.out(h[:, -1])



class Attention(torch.nn.Module):
    """Keras' MultiHeadAttention(num_heads=2, key_dim=32) over a [N, T, 32]
    sequence, in explicit formulas (torch.nn.MultiheadAttention ties the head
    size to embed_dim / heads; Keras' key_dim is per head): query/key/value
    projections to heads x key_dim, scaled scores, softmax over the keys,
    dropout 0, the output projection back to 32."""

    def __init__(self, d=32, heads=2, key_dim=32):
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.q = torch.nn.Linear(d, heads * key_dim)
        self.k = torch.nn.Linear(d, heads * key_dim)
        self.v = torch.nn.Linear(d, heads * key_dim)
        self.o = torch.nn.Linear(heads * key_dim, d)

    def forward(self, x):
        n, t, _ = x.shape
        split = lambda y: y.view(n, t, self.heads, self.key_dim).transpose(1, 2)  # [N, H, T, C]
        q, k, v = split(self.q(x)) / math.sqrt(self.key_dim), split(self.k(x)), split(self.v(x))
        p = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        return self.o((p @ v).transpose(1, 2).reshape(n, t, self.heads * self.key_dim))


class TextTransformer(torch.nn.Module):
    """examples/text_transformer.kl: token and position embeddings (20,000 and
    200 by 32), a transformer block (attention, dropout 0.1, residual, layer
    norm eps 1e-6; Dense(32, relu), Dense(32), dropout, residual, layer norm),
    the mean over the sequence, dropout, Dense(20, relu), dropout, Dense(2)."""

    def __init__(self):
        super().__init__()
        self.tok, self.pos = torch.nn.Embedding(20000, 32), torch.nn.Embedding(200, 32)
        for e in (self.tok, self.pos):  # Keras' Embedding: uniform(-0.05, 0.05)
            torch.nn.init.uniform_(e.weight, -0.05, 0.05)
        self.att = Attention()
        self.ln1, self.ln2 = torch.nn.LayerNorm(32, eps=1e-6), torch.nn.LayerNorm(32, eps=1e-6)
        self.ffn = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32))
        self.drop = torch.nn.Dropout(0.1)
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(32, 20), torch.nn.ReLU(),
                                        torch.nn.Dropout(0.1), torch.nn.Linear(20, 2))

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
        x = self.ln1(x + self.drop(self.att(x)))
        x = self.ln2(x + self.drop(self.ffn(x)))
        return self.head(x.mean(1))


def main():
    name, epochs, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    net, batch = model(name)
    for m in net.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):  # Keras: glorot_uniform kernels, zero biases
            if not (name == "seed" and isinstance(m, torch.nn.Linear) and m.out_features == 64):
                torch.nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    if name == "transformer":
        g = torch.Generator().manual_seed(12345)
        x, y = torch.randint(0, 20000, (rows, 200), generator=g), torch.randint(0, 2, (rows,), generator=g)
    else:
        x, y = data(rows, 800 if name == "lstm" else 784, 10)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(rows)
        for i in range(0, rows, batch):
            idx = perm[i:i + batch]
            xb, yb = x[idx], y[idx]
            logits = net(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # what Keras' fit does each step too: the batch's accuracy
            _ = (logits.argmax(1) == yb).sum().item()
        print(f"torch {name} {rows / (time.perf_counter() - t0):.0f}", flush=True)


if __name__ == "__main__":
    main()
