"""keras_h5.py — Keras 3 weight files (.weights.h5, .keras) read and written by klc.

Keras itself is not needed: the files are written with h5py exactly as Keras 3's
saving code writes them (keras/src/saving/saving_lib.py, H5IOStore): a group
"vars" at the root with attribute name = the model's name; for every object
owning variables a group <path>/vars with datasets "0", "1", ... (its own
variables, trainable then not, in creation order) and attribute name; a
Sequential's layers at layers/<snake_case(class)>[_k], sub-objects at their
attribute names (an RNN's weights in its cell: layers/lstm/cell/vars; a
Bidirectional's in forward_layer and backward_layer; a custom layer's
self.proj at layers/block/proj/vars); the optimizer at optimizer/vars
(iteration, learning_rate, then its slots).

For each model of models.kl (converter convert_<model>, built by CMake with the
runtime, sanitized in a sanitized build) the test
  1. writes a Keras-layout file of seeded values (with -0.0, a subnormal and a
     NaN among them) and an optimizer group, loads it with klc, saves
     safetensors and checks every weight bit-exact;
  2. saves that as .weights.h5 with klc, and reads it back as Keras'
     load_weights does (every object's vars group by path, the variable count
     checked, datasets by index), bit-exact; and klc -> .weights.h5 -> klc gives
     the same safetensors bytes;
  3. loads the same weights from a .keras archive (zip of config.json,
     metadata.json, model.weights.h5);
and then checks that every malformed or mismatched file is refused: exit 1,
a message naming the file and the problem, no crash, no sanitizer report.

Finally `klc import` turns .keras archives whose config.json is written as Keras 3
writes it (a Conv2D/BatchNormalization model; one of custom layers, given with
--layers) into .kl programs that compile, with the weights bit-exact, and
refuses what it cannot import.

Usage: python3 keras_h5.py — environment KLC (the klc program),
KLC_KERAS_CONVERT (a directory with the converters), KLC_TEST_TMPDIR
(scratch).  Exit 0 when everything passes, 1
otherwise, 77 when h5py or numpy is missing (ctest reports a skip; 1 with
KLC_REQUIRE_KERAS_H5=1, as in CI).
"""

import io
import json
import os
import random
import struct
import subprocess
import sys
import zipfile

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"skipped: h5py/numpy are not installed ({e}); Debian's python3-h5py provides them")
    sys.exit(1 if os.environ.get("KLC_REQUIRE_KERAS_H5") == "1" else 77)

CONVERT = os.environ["KLC_KERAS_CONVERT"]
TMP = os.environ["KLC_TEST_TMPDIR"]
os.makedirs(TMP, exist_ok=True)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


# --------------------------------------------------------------------------
# The models: each object of Keras' tree (path, number of own variables), and
# each klc weight with its Keras dataset and shape.
# --------------------------------------------------------------------------

def dense(name, n_in, n_out, klc=None, bias=True):
    klc = klc or name
    w = [(f"{klc}.kernel", (n_in, n_out))]
    if bias:
        w.append((f"{klc}.bias", (n_out,)))
    return w


def bn(klc, c):
    return [(f"{klc}.{v}", (c,)) for v in ("gamma", "beta", "moving_mean", "moving_variance")]


def lstm(klc, d, units):
    return [(f"{klc}.kernel", (d, 4 * units)), (f"{klc}.recurrent_kernel", (units, 4 * units)),
            (f"{klc}.bias", (4 * units,))]


# model -> (Keras model name, [(object path, object name, [(klc weight, shape)])])
MODELS = {
    "mlp": ("sequential", [
        ("layers/dense", "dense", dense("dense", 4, 3)),
        ("layers/dropout", "dropout", []),
        ("layers/dense_1", "dense_1", dense("dense_1", 3, 2)),
    ]),
    "cnn": ("sequential_1", [
        ("layers/conv2d", "conv2d", [("conv2d.kernel", (3, 3, 2, 4)), ("conv2d.bias", (4,))]),
        ("layers/batch_normalization", "batch_normalization", bn("batch_normalization", 4)),
        ("layers/conv2d_1", "conv2d_1", [("conv2d_1.kernel", (2, 2, 4, 3))]),
        ("layers/flatten", "flatten", []),
        ("layers/dense", "dense", dense("dense", 27, 2)),
    ]),
    "rnn": ("sequential_2", [
        ("layers/embedding", "embedding", [("embedding.embeddings", (7, 3))]),
        ("layers/lstm", "lstm", []),
        ("layers/lstm/cell", "lstm_cell", lstm("lstm", 3, 4)),
        ("layers/bidirectional", "bidirectional", []),
        ("layers/bidirectional/forward_layer", "forward_lstm_1", []),
        ("layers/bidirectional/forward_layer/cell", "lstm_cell", lstm("bidirectional.forward_lstm", 4, 2)),
        ("layers/bidirectional/backward_layer", "backward_lstm_1", []),
        ("layers/bidirectional/backward_layer/cell", "lstm_cell", lstm("bidirectional.backward_lstm", 4, 2)),
        ("layers/dense", "dense", dense("dense", 4, 2)),
    ]),
    "nested": ("sequential_3", [
        ("layers/block", "block", []),
        ("layers/block/proj", "dense", dense("block.dense", 4, 3)),
        ("layers/block/norm", "batch_normalization", bn("block.batch_normalization", 3)),
        ("layers/block_1", "block_1", []),
        ("layers/block_1/proj", "dense_1", dense("block_1.dense", 3, 2)),
        ("layers/block_1/norm", "batch_normalization_1", bn("block_1.batch_normalization", 2)),
        # Keras would name this layer dense_2 (its counter also counts the blocks' sub-layers);
        # klc names it dense: the name attribute is informative, Keras' loading never reads it
        ("layers/dense", "dense", dense("dense", 2, 1)),
    ]),
}


def values(model, seed):
    """klc weight name -> float32 array of seeded values, with special values."""
    rng = np.random.default_rng(seed)
    out = {}
    for _, _, ws in MODELS[model][1]:
        for name, shape in ws:
            a = rng.standard_normal(shape).astype(np.float32)
            flat = a.reshape(-1)
            if flat.size >= 3:
                flat[0] = -0.0
                flat[1] = np.float32(1e-41)  # subnormal
                flat[2] = np.frombuffer(struct.pack("<I", 0x7fc00123), np.float32)[0]  # NaN, payload
            out[name] = a
    return out


def write_keras_h5(target, model, vals, optimizer=True, dtype=None, edit=None):
    """A .weights.h5 as Keras 3's H5IOStore writes it (target: path or BytesIO)."""
    mname, objs = MODELS[model]
    with h5py.File(target, "w") as f:
        f.create_group("vars").attrs["name"] = mname
        trainable = []
        for path, name, ws in objs:
            g = f.create_group(path).create_group("vars")
            g.attrs["name"] = name
            for i, (w, _) in enumerate(ws):
                g[str(i)] = vals[w] if dtype is None else vals[w].astype(dtype)
                if "moving_" not in w:
                    trainable.append(vals[w])
        if optimizer:  # Adam: iteration, learning_rate, then m and v per trainable variable
            g = f.create_group("optimizer").create_group("vars")
            g.attrs["name"] = "adam"
            g["0"] = np.int64(7)
            g["1"] = np.float32(0.001)
            for i, a in enumerate(trainable):
                g[str(2 + 2 * i)] = np.zeros_like(a)
                g[str(3 + 2 * i)] = np.ones_like(a)
        if edit:
            edit(f)


def keras_archive(path, h5_bytes, members=("config.json", "metadata.json", "model.weights.h5")):
    """A .keras file: a zip (stored, as Keras writes it)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        if "metadata.json" in members:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1",
                                                     "date_saved": "2026-01-01@00:00:00"}))
        if "config.json" in members:
            z.writestr("config.json", json.dumps({"module": "keras", "class_name": "Sequential",
                                                   "config": {"name": "sequential", "layers": []},
                                                   "registered_name": None}))
        if "model.weights.h5" in members:
            z.writestr("model.weights.h5", h5_bytes)


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
        out[name] = np.frombuffer(blob[8 + n + b:8 + n + e], dtype=np.float32).reshape(info["shape"])
    return out


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def convert(model, *args, hdf5_leaks_ok=False):
    env = dict(os.environ)
    # a sanitizer report must not pass for a clean refusal (exit 1)
    env["ASAN_OPTIONS"] = "exitcode=86:" + env.get("ASAN_OPTIONS", "")
    env["UBSAN_OPTIONS"] = "exitcode=86:" + env.get("UBSAN_OPTIONS", "")
    if hdf5_leaks_ok:  # corrupted files: leaks inside libhdf5 are HDF5's (lsan.supp)
        env["LSAN_OPTIONS"] = ("suppressions=" + os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                              "lsan.supp")
                               + ":print_suppressions=0:" + env.get("LSAN_OPTIONS", ""))
    p = subprocess.run([os.path.join(CONVERT, "convert_" + model), *args], capture_output=True,
                       text=True, env=env, cwd=TMP)
    return p.returncode, p.stderr


def keras_load(path, model, expect):
    """Keras 3's load_weights on `path` for `model`: each object's vars group by
    path (missing: no variables), its variable count checked, datasets by index."""
    with h5py.File(path, "r") as f:
        if "vars" in f and len(f["vars"].keys()) != 0:
            return "the model's own vars group is not empty"
        for obj, _, ws in MODELS[model][1]:
            store = f[obj]["vars"] if obj in f and "vars" in f[obj] else {}
            if len(store.keys()) != len(ws):
                return f"Layer at '{obj}' expected {len(ws)} variables, but received {len(store.keys())}"
            for i, (w, shape) in enumerate(ws):
                a = np.array(store[str(i)])
                if a.shape != shape:
                    return f"{obj}/vars/{i}: shape {a.shape}, expected {shape}"
                if not same_bits(a, expect[w]):
                    return f"{obj}/vars/{i} ({w}): values differ"
    return None


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# 1-3: reading Keras' files, writing them, round trips
# --------------------------------------------------------------------------

def check_model(model):
    d = os.path.join(TMP, model)
    os.makedirs(d, exist_ok=True)
    vals = values(model, seed=len(model))
    src = os.path.join(d, "keras.weights.h5")
    write_keras_h5(src, model, vals)
    st = os.path.join(d, "from_keras.safetensors")
    rc, err = convert(model, src, st)
    if rc != 0:
        return fail(f"{model}: loading the Keras file failed (exit {rc}): {err.strip()}")
    got = read_safetensors(st)
    if sorted(got) != sorted(vals):
        return fail(f"{model}: weights {sorted(got)} != {sorted(vals)}")
    for w in vals:
        if not same_bits(got[w], vals[w]):
            fail(f"{model}: {w} differs after loading the Keras file")
    # klc writes .weights.h5; Keras' loading reads it
    out = os.path.join(d, "klc.weights.h5")
    rc, err = convert(model, st, out)
    if rc != 0:
        return fail(f"{model}: saving .weights.h5 failed (exit {rc}): {err.strip()}")
    why = keras_load(out, model, vals)
    if why:
        fail(f"{model}: Keras' loading of klc's file: {why}")
    with h5py.File(out, "r") as f:
        if f["vars"].attrs.get("name") != MODELS[model][0]:
            fail(f"{model}: root vars name {f['vars'].attrs.get('name')!r}, expected {MODELS[model][0]!r}")
        for obj, name, ws in MODELS[model][1]:
            if obj.count("/") == 1 and ws and f[obj + "/vars"].attrs.get("name") != name:
                fail(f"{model}: {obj}/vars has name {f[obj + '/vars'].attrs.get('name')!r}, expected {name!r}")
        bad = []
        f.visititems(lambda n, o: bad.append(n) if isinstance(o, h5py.Dataset) and o.dtype != np.float32 else None)
        if bad:
            fail(f"{model}: datasets not float32 in klc's file: {bad}")
    # klc -> .weights.h5 -> klc: the same bytes
    back = os.path.join(d, "back.safetensors")
    rc, err = convert(model, out, back)
    if rc != 0:
        return fail(f"{model}: reloading klc's .weights.h5 failed: {err.strip()}")
    if read_bytes(back) != read_bytes(st):
        fail(f"{model}: klc -> .weights.h5 -> klc is not bit-exact")
    # the same weights give the same file
    out2 = os.path.join(d, "klc2.weights.h5")
    rc, err = convert(model, back, out2)
    if rc != 0 or read_bytes(out2) != read_bytes(out):
        fail(f"{model}: saving the same weights twice gave different .weights.h5 files")
    # .keras archive
    buf = io.BytesIO()
    write_keras_h5(buf, model, vals)
    arch = os.path.join(d, "model.keras")
    keras_archive(arch, buf.getvalue())
    ks = os.path.join(d, "from_keras_archive.safetensors")
    rc, err = convert(model, arch, ks)
    if rc != 0:
        fail(f"{model}: loading the .keras archive failed: {err.strip()}")
    elif read_bytes(ks) != read_bytes(st):
        fail(f"{model}: weights from the .keras archive differ from the .weights.h5 ones")
    # float64 datasets load (rounded to float32)
    f64 = os.path.join(d, "f64.weights.h5")
    write_keras_h5(f64, model, vals, dtype=np.float64)
    f64s = os.path.join(d, "f64.safetensors")
    rc, err = convert(model, f64, f64s)
    if rc != 0:
        fail(f"{model}: float64 datasets refused: {err.strip()}")
    elif read_bytes(f64s) != read_bytes(st):
        fail(f"{model}: float64 datasets did not round to the float32 values")
    leftovers = [n for n in os.listdir(d) if ".tmp-" in n]
    if leftovers:
        fail(f"{model}: temporary files left: {leftovers}")
    print(f"ok: {model}: Keras file -> klc -> .weights.h5 -> Keras' loading and klc, .keras archive, float64")


# --------------------------------------------------------------------------
# 4: refusals
# --------------------------------------------------------------------------

def refuse(model, label, path, fragment):
    rc, err = convert(model, path)
    name = os.path.basename(path)
    if rc != 1:
        fail(f"refusal '{label}': exit {rc} (want 1): {err.strip()[:300]}")
    elif name not in err or fragment not in err:
        fail(f"refusal '{label}': message does not name {name!r} and {fragment!r}: {err.strip()}")
    else:
        print(f"ok: refused {label}: {err.strip()}")


def check_refusals():
    d = os.path.join(TMP, "refuse")
    os.makedirs(d, exist_ok=True)
    vals = values("mlp", seed=3)

    def h5(label, edit, fragment, model="mlp", **kw):
        p = os.path.join(d, label.replace(" ", "_") + ".weights.h5")
        write_keras_h5(p, model, vals if model == "mlp" else values(model, 5), edit=edit, **kw)
        refuse(model, label, p, fragment)

    def delete(path):
        def e(f):
            del f[path]
        return e

    def replace(path, value):
        def e(f):
            del f[path]
            f[path] = value
        return e

    def add(path, value):
        def e(f):
            f[path] = value
        return e

    h5("missing dataset", delete("layers/dense_1/vars/1"), "has no dataset 'layers/dense_1/vars/1'")
    h5("missing layer", delete("layers/dense_1"), "has no dataset 'layers/dense_1/vars/0'")
    h5("wrong shape", replace("layers/dense/vars/0", np.zeros((3, 4), np.float32)),
       "has shape [3, 4], but model 'mlp' expects [4, 3]")
    h5("scalar for a vector", replace("layers/dense/vars/1", np.float32(1)), "has shape [], but")
    h5("int dtype", replace("layers/dense/vars/1", np.zeros(3, np.int32)), "is not float32 or float64")
    h5("float16", replace("layers/dense/vars/1", np.zeros(3, np.float16)), "is not float32 or float64")
    h5("string dataset", replace("layers/dense/vars/1", "abc"), "is not float32 or float64")
    h5("float64 out of range", replace("layers/dense/vars/1", np.array([1e300, 0, 0])),
       "cannot convert float64 to float32")
    h5("extra variable", add("layers/dense/vars/2", np.zeros(3, np.float32)),
       "has dataset 'layers/dense/vars/2' that model 'mlp' does not have")
    h5("extra layer", add("layers/dense_2/vars/0", np.zeros(3, np.float32)),
       "has dataset 'layers/dense_2/vars/0'")
    h5("variable on the model", add("vars/0", np.zeros(3, np.float32)), "has dataset 'vars/0'")
    h5("group for a dataset", lambda f: (f.__delitem__("layers/dense/vars/1"), f.create_group("layers/dense/vars/1")),
       "has no dataset 'layers/dense/vars/1'")
    h5("soft link", lambda f: (f.__delitem__("layers/dense/vars/1"),
                               f.__setitem__("layers/dense/vars/1", h5py.SoftLink("/layers/dense_1/vars/1"))),
       "is a soft or external link")
    h5("external link", lambda f: (f.__delitem__("layers/dense/vars/1"),
                                   f.__setitem__("layers/dense/vars/1", h5py.ExternalLink("other.h5", "/x"))),
       "is a soft or external link")
    h5("wrong layer class", lambda f: f.move("layers/dense_1", "layers/conv2d"),
       "has no dataset 'layers/dense_1/vars/0'")
    # an LSTM's weights must be in its cell, as Keras puts them
    h5("rnn weights outside the cell", lambda f: f.move("layers/lstm/cell/vars", "layers/lstm/vars2"),
       "has no dataset 'layers/lstm/cell/vars/0'", model="rnn")
    h5("nested layer under its name", lambda f: f.move("layers/block/proj", "layers/block/dense"),
       "has no dataset 'layers/block/proj/vars/0'", model="nested")

    good = os.path.join(d, "good.weights.h5")
    write_keras_h5(good, "mlp", vals)
    blob = read_bytes(good)

    def raw(label, data, fragment, suffix=".weights.h5"):
        p = os.path.join(d, label.replace(" ", "_") + suffix)
        with open(p, "wb") as f:
            f.write(data)
        refuse("mlp", label, p, fragment)

    raw("empty file", b"", "not an HDF5 file")
    raw("text file", b"not hdf5 at all\n", "not an HDF5 file")
    raw("truncated", blob[:len(blob) // 2], "not a valid HDF5 file")
    raw("signature only", blob[:8], "not a valid HDF5 file")
    # .keras archives
    raw("archive without weights", archive_bytes(blob, ("config.json", "metadata.json")),
        "has no model.weights.h5", ".keras")
    raw("archive with garbage weights", archive_bytes(b"\x89HDF\r\n\x1a\ngarbage"), "not a valid HDF5 file",
        ".keras")
    raw("archive of the wrong model", archive_bytes(h5_bytes_of("nested")), "has no dataset", ".keras")
    ab = archive_bytes(blob)
    raw("truncated archive", ab[:len(ab) - 40], "not a .keras archive", ".keras")
    raw("not a zip", b"PK\x03\x04 this is no zip file", "not a .keras archive", ".keras")
    # writing: .keras is not written, and a failed save leaves nothing behind
    st = os.path.join(d, "ok.safetensors")
    rc, err = convert("mlp", good, st)
    if rc != 0:
        fail(f"saving safetensors from the good file failed: {err}")
    rc, err = convert("mlp", st, os.path.join(d, "out.keras"))
    if rc != 1 or "does not write them" not in err:
        fail(f"saving to .keras was not refused clearly: exit {rc}: {err.strip()}")
    elif os.path.exists(os.path.join(d, "out.keras")):
        fail("a refused .keras save left a file")
    else:
        print(f"ok: refused saving .keras: {err.strip()}")
    rc, err = convert("mlp", st, os.path.join(d, "no", "such", "dir", "x.weights.h5"))
    if rc != 1 or "x.weights.h5" not in err:
        fail(f"saving into a missing directory: exit {rc}: {err.strip()}")
    else:
        print(f"ok: refused saving into a missing directory: {err.strip()}")
    # bytes flipped anywhere in a valid file: a clean load or a clean refusal, never a crash
    rng = random.Random(14)
    crashes = 0
    for k in range(40):
        b = bytearray(blob)
        for _ in range(rng.choice((1, 2, 8))):
            b[rng.randrange(len(b))] = rng.randrange(256)
        p = os.path.join(d, f"flip{k}.weights.h5")
        with open(p, "wb") as f:
            f.write(bytes(b))
        rc, err = convert("mlp", p, hdf5_leaks_ok=True)
        if rc not in (0, 1) or "Sanitizer" in err or "runtime error" in err:
            crashes += 1
            fail(f"corrupted file {p}: exit {rc}: {err.strip()[:400]}")
        elif rc == 1 and "flip%d.weights.h5" % k not in err:
            fail(f"corrupted file {p}: message does not name it: {err.strip()}")
    if not crashes:
        print("ok: 40 corrupted files loaded or were refused cleanly")


def h5_bytes_of(model):
    buf = io.BytesIO()
    write_keras_h5(buf, model, values(model, 9))
    return buf.getvalue()


def archive_bytes(h5, members=("config.json", "metadata.json", "model.weights.h5")):
    buf = io.BytesIO()
    keras_archive(buf, h5, members)
    return buf.getvalue()


# --------------------------------------------------------------------------
# 5: klc import: config.json as Keras 3 writes it -> .kl, weights -> safetensors
# --------------------------------------------------------------------------

def policy():
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


def initializer(cls):
    return {"module": "keras.initializers", "class_name": cls, "config": {"seed": None}, "registered_name": None}


def layer_config(cls, name, registered=None, **cfg):
    c = {"name": name, "trainable": True, "dtype": policy()}
    c.update(cfg)
    return {"module": "keras.layers" if not registered else None, "class_name": cls, "config": c,
            "registered_name": registered}


def conv(name, filters, k, activation, use_bias):
    return layer_config("Conv2D", name, filters=filters, kernel_size=[k, k], strides=[1, 1], padding="valid",
                        data_format="channels_last", dilation_rate=[1, 1], groups=1, activation=activation,
                        use_bias=use_bias, kernel_initializer=initializer("GlorotUniform"),
                        bias_initializer=initializer("Zeros"), kernel_regularizer=None, bias_regularizer=None,
                        activity_regularizer=None, kernel_constraint=None, bias_constraint=None)


def dense_config(name, units, activation="linear"):
    return layer_config("Dense", name, units=units, activation=activation, use_bias=True,
                        kernel_initializer=initializer("GlorotUniform"), bias_initializer=initializer("Zeros"),
                        kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                        bias_constraint=None)


def sequential_config(input_shape, layers, compile_config):
    inp = {"module": "keras.layers", "class_name": "InputLayer",
           "config": {"batch_shape": [None, *input_shape], "dtype": "float32", "sparse": False, "ragged": False,
                      "name": "input_layer"}, "registered_name": None}
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "sequential", "trainable": True, "dtype": policy(), "layers": [inp, *layers]},
            "registered_name": None, "build_config": {"input_shape": [None, *input_shape]},
            "compile_config": compile_config}


ADAM = {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                      "config": {"name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": None,
                                 "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
                                 "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                                 "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999,
                                 "epsilon": 1e-07, "amsgrad": False}, "registered_name": None},
        "loss": "mse", "loss_weights": None, "metrics": ["mae"], "weighted_metrics": None,
        "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}

CNN_CONFIG = sequential_config([6, 6, 2], [
    conv("conv2d", 4, 3, "relu", True),
    layer_config("BatchNormalization", "batch_normalization", axis=-1, momentum=0.99, epsilon=0.001, center=True,
                 scale=True, beta_initializer=initializer("Zeros"), gamma_initializer=initializer("Ones"),
                 moving_mean_initializer=initializer("Zeros"), moving_variance_initializer=initializer("Ones"),
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False),
    conv("conv2d_1", 3, 2, "linear", False),
    layer_config("Flatten", "flatten", data_format="channels_last"),
    dense_config("dense", 2),
], ADAM)

NESTED_CONFIG = sequential_config([4], [
    layer_config("Block", "block", registered="Custom>Block", units=3),
    layer_config("Block", "block_1", registered="Custom>Block", units=2),
    dense_config("dense_2", 1),
], ADAM)

BLOCK_KL = """
layer Block(units: int = 3) {
    build(x: [N, D]) {
        proj = Dense(units);
        norm = BatchNormalization();
    }
    call(x, training) {
        return norm(proj(x), training = training);
    }
}
"""


def klc(*args):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "exitcode=86:" + env.get("ASAN_OPTIONS", "")
    env["UBSAN_OPTIONS"] = "exitcode=86:" + env.get("UBSAN_OPTIONS", "")
    p = subprocess.run([os.environ["KLC"], *args], capture_output=True, text=True, cwd=TMP, env=env)
    return p.returncode, p.stdout + p.stderr


def check_import():
    d = os.path.join(TMP, "import")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "blocks.kl"), "w") as f:
        f.write(BLOCK_KL)
    for model, config, extra in (("cnn", CNN_CONFIG, []), ("nested", NESTED_CONFIG, ["--layers", "import/blocks.kl"])):
        vals = values(model, 11)
        arch = os.path.join(d, model + ".keras")
        keras_archive_config(arch, config, model, vals)
        rc, out = klc("import", arch, "-o", os.path.join(d, model + ".kl"), *extra)
        if rc != 0:
            fail(f"import {model}: exit {rc}: {out.strip()}")
            continue
        rc, summary = klc(os.path.join(d, model + ".kl"), "--summary")
        if rc != 0:
            fail(f"import {model}: the imported program does not compile: {summary.strip()}")
            continue
        total = sum(int(np.prod(shape)) for _, _, ws in MODELS[model][1] for _, shape in ws)
        if f"Total params: {total:,}" not in summary:
            fail(f"import {model}: summary does not count {total} parameters:\n{summary}")
        got = read_safetensors(os.path.join(d, model + ".safetensors"))
        if sorted(got) != sorted(vals):
            fail(f"import {model}: weights {sorted(got)} != {sorted(vals)}")
        else:
            for w in vals:
                if not same_bits(got[w], vals[w]):
                    fail(f"import {model}: {w} differs")
        # the imported weights load into the model compiled from models.kl
        rc, err = convert(model, os.path.join(d, model + ".safetensors"))
        if rc != 0:
            fail(f"import {model}: klc's model does not load the imported weights: {err.strip()}")
        print(f"ok: klc import {model}: the program checks, {total} parameters, weights bit-exact")
    # refusals
    vals = values("nested", 11)
    arch = os.path.join(d, "nested.keras")

    def refuse_import(label, args, fragment, out_kl):
        rc, out = klc("import", *args, "-o", out_kl)
        if rc != 1 or fragment not in out:
            fail(f"import refusal '{label}': exit {rc}, want 1 and {fragment!r}: {out.strip()}")
        elif os.path.exists(out_kl):
            fail(f"import refusal '{label}' wrote {out_kl}")
        else:
            print(f"ok: import refused {label}: {out.strip()}")

    refuse_import("custom layer without --layers", [arch], "is of class 'Custom>Block'", os.path.join(d, "r1.kl"))
    with open(os.path.join(d, "other.kl"), "w") as f:
        f.write("layer Other() {\n    call(x) { return x; }\n}\n")
    refuse_import("--layers without the class", [arch, "--layers", os.path.join(d, "other.kl")],
                  "has no 'layer Block(...)'", os.path.join(d, "r2.kl"))
    functional = dict(CNN_CONFIG, class_name="Functional")
    fa = os.path.join(d, "functional.keras")
    keras_archive_config(fa, functional, "cnn", values("cnn", 11))
    refuse_import("a Functional model", [fa], "klc import takes a Sequential", os.path.join(d, "r3.kl"))
    odd = json.loads(json.dumps(CNN_CONFIG))
    odd["config"]["layers"][5]["config"]["lora_rank"] = 4
    oa = os.path.join(d, "lora.keras")
    keras_archive_config(oa, odd, "cnn", values("cnn", 11))
    refuse_import("an argument klc does not take", [oa], "has 'lora_rank', an argument klc's Dense does not take",
                  os.path.join(d, "r4.kl"))
    wrong = os.path.join(d, "wrong_weights.keras")
    keras_archive_config(wrong, CNN_CONFIG, "mlp", values("mlp", 11))
    refuse_import("weights of another model", [wrong], "has no dataset 'layers/conv2d/vars/0'",
                  os.path.join(d, "r5.kl"))
    refuse_import("not an archive", [os.path.join(d, "blocks.kl")], "not a .keras archive", os.path.join(d, "r6.kl"))


def keras_archive_config(path, config, model, vals):
    buf = io.BytesIO()
    write_keras_h5(buf, model, vals)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue())


def main():
    for model in MODELS:
        check_model(model)
    check_refusals()
    check_import()
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
