"""klc_torch.py — layers compiled by klc against PyTorch, in double precision.

A case is a one-layer (or few-layer) Sequential program in .kl and the same
computation written with torch.nn.functional.  For each case the harness

  1. draws an input batch x, targets y and every weight (seeded normal
     values, stored as float32) and writes x.npy, y.npy and init.safetensors
     under the weights' Keras names (so klc's loading by name is tested too);
  2. compiles the program with `klc --main` and the runtime into a trainer;
  3. runs `predict` (training = false) from init.safetensors, and one `fit`
     step — the whole batch, no shuffle, SGD with the case's learning rate —
     saving the weights after it;
  4. computes in torch (float64) the forward pass, and the gradient of the
     Keras loss with respect to every trainable weight, and compares:
     the predictions, and each weight's implied gradient
     (w_before - w_after) / learning_rate, within float32 tolerances.

Weights the case marks as state (BatchNormalization's moving statistics)
are compared as values after the step, from the case's `state_after`.

Usage: python3 klc_torch.py MODULE [CASE ...] — runs the cases of
tests/torch/MODULE.py (all, or those named).  Environment: KLC (the klc
program), KLC_SOURCE_DIR, KLC_BINARY_DIR (the build tree: libklc.a and the
runtime headers), KLC_TEST_TMPDIR (scratch), KLC_TORCH_CFLAGS (extra flags
for compiling the trainers: the sanitizers of a sanitized build), KLC_RUNTIME_LIBS (the
libraries libklc.a needs besides OpenBLAS: HDF5, libzip, MPI).  Exit status 0 when every case
passes, 1 otherwise, 77 when PyTorch is missing (ctest reports a skip).
"""

import importlib
import json
import os
import struct
import subprocess
import sys
import zlib

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"skipped: PyTorch is not installed ({e}); Debian's python3-torch provides it")
    sys.exit(77)

torch.set_default_dtype(torch.float64)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------

def write_npy(path, a):
    """NumPy's .npy, version 1.0, little-endian, C order."""
    a = np.ascontiguousarray(a)
    descr = {np.dtype(np.float32): "<f4", np.dtype(np.int32): "<i4",
             np.dtype(np.float64): "<f8"}[a.dtype]
    shape = "(" + "".join(f"{d}, " for d in a.shape).rstrip(" ") + ")" if a.ndim != 1 else f"({a.shape[0]},)"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(a.tobytes())


def read_npy(path):
    return np.load(path)


def write_safetensors(path, tensors):
    """tensors: name -> float32 array.  Header: JSON, padded with spaces."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        assert info["dtype"] == "F32", f"{path}: {name} is {info['dtype']}"
        out[name] = np.frombuffer(blob[8 + n + b:8 + n + e], dtype=np.float32).reshape(info["shape"])
    return out


# --------------------------------------------------------------------------
# A case
# --------------------------------------------------------------------------

class Case:
    """name, kl (the program), x_shape (batch first), weights {key: shape},
    forward(w, x, training) -> y (torch, float64), loss ("mse" or
    "sparse_categorical_crossentropy"), lr, optional classes, state (keys of
    non-trainable weights), x_kind ("normal" or "ids:<limit>") and steps (1: one
    SGD step, its implied gradients compared; more: that many full-batch steps,
    simulated in torch, and the weights and state after them compared).

    extra_loss(w, x) -> a torch scalar added to the loss of the torch step
    (the penalties of add_loss, activity and weight regularizers).
    step_check(w, implied, x, y) -> a list of failures: replaces the torch
    gradient comparison for layers whose training step is random (noise,
    dropout); w, implied (the trainer's implied gradients), x and y are
    NumPy arrays in float64, so the check can test the noise's statistics."""

    def __init__(self, name, kl, x_shape, weights, forward, loss="mse", lr=0.5, classes=None,
                 state=(), state_after=None, x_kind="normal", rtol=2e-4, atol=2e-5, weight_scale=0.5,
                 init=None, extra_loss=None, step_check=None, steps=1):
        self.name, self.kl, self.x_shape, self.weights = name, kl, x_shape, weights
        self.forward, self.loss, self.lr, self.classes = forward, loss, lr, classes
        self.state, self.state_after, self.x_kind = set(state), state_after, x_kind
        self.rtol, self.atol, self.weight_scale, self.init = rtol, atol, weight_scale, init
        self.extra_loss, self.step_check = extra_loss, step_check
        self.steps = steps


def keras_loss(kind, y_pred, y):
    if kind == "mse":
        return torch.mean((y_pred - y) ** 2)
    if kind == "sparse_categorical_crossentropy":   # from probabilities, clipped as Keras does
        eps = 1e-7
        p = torch.clamp(y_pred, eps, 1 - eps)
        p = p / torch.sum(p, dim=-1, keepdim=True)
        return -torch.mean(torch.log(torch.gather(p, -1, y.long().unsqueeze(-1))))
    raise ValueError(kind)


def training_loss(case, w, x, y):
    """The objective of one training step in torch: Keras' loss of the
    forward pass with training = true, plus the case's penalty terms."""
    loss = keras_loss(case.loss, case.forward(w, x, True), y)
    if case.extra_loss:
        loss = loss + case.extra_loss(w, x)
    return loss


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}")
    return r.stdout


def compare(what, got, want, rtol, atol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return [f"{what}: shape {list(got.shape)}, expected {list(want.shape)}"]
    if not np.all(np.isfinite(got)):
        return [f"{what}: not finite"]
    err = np.abs(got - want) - (atol + rtol * np.abs(want))
    if np.any(err > 0):
        i = np.unravel_index(np.argmax(err), got.shape)
        return [f"{what}: at {list(i)} klc {got[i]:.8g}, torch {want[i]:.8g} "
                f"(max |diff| {np.max(np.abs(got - want)):.3g})"]
    return []


def check_case(case, env, tmp):
    d = os.path.join(tmp, case.name)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    # data
    if case.x_kind.startswith("ids:"):
        x = rng.integers(0, int(case.x_kind[4:]), size=case.x_shape).astype(np.int32)
    else:
        x = rng.normal(size=case.x_shape).astype(np.float32)
    weights = {}
    for key, shape in case.weights.items():
        if case.init and key in case.init:
            weights[key] = np.asarray(case.init[key](rng, shape), dtype=np.float32)
        else:
            weights[key] = (case.weight_scale * rng.normal(size=shape)).astype(np.float32)
    tw = {k: torch.tensor(v.astype(np.float64), requires_grad=k not in case.state) for k, v in weights.items()}
    tx = torch.tensor(x.astype(np.int64 if x.dtype == np.int32 else np.float64))
    y_eval = case.forward(tw, tx, False)
    if case.loss == "mse":
        y = rng.normal(size=tuple(y_eval.shape)).astype(np.float32)
    else:
        y = rng.integers(0, case.classes, size=tuple(y_eval.shape[:-1])).astype(np.int32)
    write_npy(os.path.join(d, "x.npy"), x)
    write_npy(os.path.join(d, "y.npy"), y)
    write_safetensors(os.path.join(d, "init.safetensors"), weights)
    with open(os.path.join(d, "model.kl"), "w") as f:
        f.write(case.kl)
    # klc and the trainer
    run([env["KLC"], "model.kl", "--main", "-o", "train.c"], d)
    b = env["KLC_BINARY_DIR"]
    s = env["KLC_SOURCE_DIR"]
    flags = os.environ.get("KLC_TORCH_CFLAGS", "").split()
    run([os.environ.get("CC", "cc"), "-std=c11", "-O1", *flags, "train.c", "-I" + os.path.join(s, "runtime", "include"),
         os.path.join(b, "runtime", "libklc.a"), *os.environ.get("KLC_RUNTIME_LIBS", "").split(), "-lopenblas", "-lm",
         "-o", "train"], d)
    run(["./train", "predict", "--x", "x.npy", "--load", "init.safetensors", "--out", "p.npy"], d)
    run(["./train", "fit", "--x", "x.npy", "--y", "y.npy", "--load", "init.safetensors", "--epochs", str(case.steps),
         "--batch-size", str(case.x_shape[0]), "--no-shuffle", "--verbose", "0",
         "--save", "after.safetensors"], d)
    failures = compare("predict", read_npy(os.path.join(d, "p.npy")), y_eval.detach().numpy(), case.rtol, case.atol)
    if case.steps > 1:
        return failures + check_steps(case, weights, tw, tx, y, os.path.join(d, "after.safetensors"))
    # one step in torch
    ty = torch.tensor(y.astype(np.int64 if y.dtype == np.int32 else np.float64))
    loss = training_loss(case, tw, tx, ty)
    trainable = [k for k in weights if k not in case.state]
    grads = torch.autograd.grad(loss, [tw[k] for k in trainable], allow_unused=True) if trainable else []
    after = read_safetensors(os.path.join(d, "after.safetensors"))
    for key in weights:
        if key not in after:
            failures.append(f"{key}: missing from the trainer's weights (has {sorted(after)})")
    if case.step_check:
        implied = {k: (weights[k].astype(np.float64) - after[k].astype(np.float64)) / case.lr
                   for k in trainable if k in after}
        failures += case.step_check({k: v.astype(np.float64) for k, v in weights.items()}, implied,
                                    x.astype(np.float64), y.astype(np.float64))
        grads = []
    for key, g in zip(trainable, grads):
        if key not in after:
            continue
        implied = (weights[key].astype(np.float64) - after[key].astype(np.float64)) / case.lr
        want = np.zeros(weights[key].shape) if g is None else g.detach().numpy()
        # the implied gradient carries the rounding of w (float32) divided by lr
        atol = case.atol + 4 * np.finfo(np.float32).eps * np.max(np.abs(weights[key])) / case.lr
        failures += compare(f"d loss / d {key}", implied, want, case.rtol, atol)
    if case.state_after:
        for key, value in case.state_after(tw, tx).items():
            failures += compare(f"{key} after the step", after[key], value.detach().numpy(), case.rtol, case.atol)
    return failures


def check_steps(case, weights, tw, tx, y, after_path):
    """case.steps full-batch SGD steps in torch (state updated by state_after
    from the weights before each step), against the trainer's weights after
    them."""
    ty = torch.tensor(y.astype(np.int64 if y.dtype == np.int32 else np.float64))
    trainable = [k for k in weights if k not in case.state]
    w = dict(tw)
    for _ in range(case.steps):
        loss = training_loss(case, w, tx, ty)
        grads = torch.autograd.grad(loss, [w[k] for k in trainable], allow_unused=True) if trainable else []
        state = case.state_after(w, tx) if case.state_after else {}
        nw = {}
        for k, g in zip(trainable, grads):
            nw[k] = (w[k].detach() - case.lr * (torch.zeros_like(w[k]) if g is None else g)).requires_grad_(True)
        for k in weights:
            if k not in nw:
                nw[k] = state[k].detach() if k in state else w[k]
        w = nw
    after = read_safetensors(after_path)
    failures = []
    for key in weights:
        if key not in after:
            failures.append(f"{key}: missing from the trainer's weights (has {sorted(after)})")
            continue
        # float32 rounding accumulates over the steps
        atol = case.atol * case.steps + 4 * np.finfo(np.float32).eps * np.max(np.abs(weights[key]))
        failures += compare(f"{key} after {case.steps} steps", after[key], w[key].detach().numpy(),
                            case.rtol * case.steps, atol)
    return failures


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    env = {k: os.environ[k] for k in ("KLC", "KLC_SOURCE_DIR", "KLC_BINARY_DIR", "KLC_TEST_TMPDIR")}
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    cases = importlib.import_module(argv[1]).CASES
    wanted = set(argv[2:])
    passed = failed = 0
    for case in cases:
        if wanted and case.name not in wanted:
            continue
        try:
            failures = check_case(case, env, env["KLC_TEST_TMPDIR"])
        except Exception as e:  # a compile or run failure is a failed case
            failures = [str(e)]
        if failures:
            failed += 1
            print(f"FAIL {case.name}")
            for f in failures:
                print(f"    {f}")
        else:
            passed += 1
            print(f"ok   {case.name}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
