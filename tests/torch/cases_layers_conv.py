"""cases_layers_conv.py — the prelude's convolution and pooling layers
(compiler/prelude/convolution.kl, pooling.kl) against torch.nn.functional
(see klc_torch.py).

Layouts are mapped explicitly: klc (Keras, channels_last) tensors are
[N, T, C] / [N, H, W, C], torch's are [N, C, T] / [N, C, H, W]; Keras
kernels [k(, k), in, out] become torch's [out, in, k(, k)], transposed
kernels [k(, k), out, in] torch's [in, out, k(, k)].  TensorFlow's "same"
padding (the odd pixel after) is an explicit F.pad."""

import torch
import torch.nn.functional as F

from klc_torch import Case


def program(input_shape, layers, loss="mse", lr=0.5):
    return (f"model = Sequential([Input(shape = {list(input_shape)}), {', '.join(layers)}]);\n"
            f"model.compile(optimizer = sgd(learning_rate = {lr}), loss = \"{loss}\");\n")


def tf_pads(size, k, s, d, padding):
    """TensorFlow's padding along one axis: (before, after)."""
    ke = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return ke - 1, 0
    out = (size + s - 1) // s
    total = max((out - 1) * s + ke - size, 0)
    return total // 2, total - total // 2


def nlc(x):   # [N, T, C] -> [N, C, T]
    return x.permute(0, 2, 1)


def nhwc(x):  # [N, H, W, C] -> [N, C, H, W]
    return x.permute(0, 3, 1, 2)


def back1(y):
    return y.permute(0, 2, 1)


def back2(y):
    return y.permute(0, 2, 3, 1)


def conv1d(x, kernel, bias, s=1, padding="valid", d=1, groups=1):
    lo, hi = tf_pads(x.shape[1], kernel.shape[0], s, d, padding)
    xt = F.pad(nlc(x), (lo, hi))
    return back1(F.conv1d(xt, kernel.permute(2, 1, 0), bias, stride=s, dilation=d, groups=groups))


def conv2d(x, kernel, bias, s=(1, 1), padding="valid", d=(1, 1), groups=1):
    t, b = tf_pads(x.shape[1], kernel.shape[0], s[0], d[0], padding)
    l, r = tf_pads(x.shape[2], kernel.shape[1], s[1], d[1], padding)
    xt = F.pad(nhwc(x), (l, r, t, b))
    return back2(F.conv2d(xt, kernel.permute(3, 2, 0, 1), bias, stride=s, dilation=d, groups=groups))


def depthwise2d(x, kernel, bias, s=(1, 1), padding="valid", d=(1, 1)):
    kh, kw, c, m = kernel.shape
    t, b = tf_pads(x.shape[1], kh, s[0], d[0], padding)
    l, r = tf_pads(x.shape[2], kw, s[1], d[1], padding)
    xt = F.pad(nhwc(x), (l, r, t, b))
    # output channel c * m + j uses kernel[:, :, c, j]
    w = kernel.reshape(kh, kw, c * m).permute(2, 0, 1).unsqueeze(1)
    return back2(F.conv2d(xt, w, bias, stride=s, dilation=d, groups=c))


def crop_or_pad(y, axis, start, length):
    """y[start : start + length] along axis, zeros past the end."""
    y = y.narrow(axis, start, min(length, y.shape[axis] - start))
    if y.shape[axis] < length:
        shape = list(y.shape)
        shape[axis] = length - y.shape[axis]
        y = torch.cat([y, torch.zeros(shape)], dim=axis)
    return y


def out_len_transpose(size, k, s, d, padding, op=None):
    """Keras' deconv_output_length."""
    ke = (k - 1) * d + 1
    if op is not None:
        return (size - 1) * s + ke - (2 * (ke // 2) if padding == "same" else 0) + op
    return size * s + max(ke - s, 0) if padding == "valid" else size * s


def conv1d_transpose(x, kernel, bias, s=1, padding="valid", d=1, op=None):
    k = kernel.shape[0]
    full = F.conv_transpose1d(nlc(x), kernel.permute(2, 1, 0), None, stride=s, dilation=d)
    length = out_len_transpose(x.shape[1], k, s, d, padding, op)
    y = crop_or_pad(full, 2, tf_pads(length, k, s, d, padding)[0], length)
    return back1(y) + bias


def conv2d_transpose(x, kernel, bias, s=(1, 1), padding="valid", d=(1, 1), op=(None, None)):
    kh, kw = kernel.shape[0], kernel.shape[1]
    full = F.conv_transpose2d(nhwc(x), kernel.permute(3, 2, 0, 1), None, stride=s, dilation=d)
    ho = out_len_transpose(x.shape[1], kh, s[0], d[0], padding, op[0])
    wo = out_len_transpose(x.shape[2], kw, s[1], d[1], padding, op[1])
    y = crop_or_pad(full, 2, tf_pads(ho, kh, s[0], d[0], padding)[0], ho)
    y = crop_or_pad(y, 3, tf_pads(wo, kw, s[1], d[1], padding)[0], wo)
    return back2(y) + bias


def max_pool(x, p, s, padding):
    """x channels_last, rank 3 or 4; p and s tuples."""
    rank = x.ndim - 2
    pads = []
    for i in reversed(range(rank)):
        pads += list(tf_pads(x.shape[1 + i], p[i], s[i], 1, padding))
    xt = F.pad(nlc(x) if rank == 1 else nhwc(x), pads, value=-float("inf"))
    y = F.max_pool1d(xt, p, s) if rank == 1 else F.max_pool2d(xt, p, s)
    return back1(y) if rank == 1 else back2(y)


def avg_pool(x, p, s, padding):
    """TensorFlow's average: the sum over the real pixels of the window / their number."""
    rank = x.ndim - 2
    pads = []
    for i in reversed(range(rank)):
        pads += list(tf_pads(x.shape[1 + i], p[i], s[i], 1, padding))
    xt = F.pad(nlc(x) if rank == 1 else nhwc(x), pads)
    ones = F.pad(torch.ones_like(nlc(x) if rank == 1 else nhwc(x)), pads)
    pool = F.avg_pool1d if rank == 1 else F.avg_pool2d
    y = pool(xt, p, s) / pool(ones, p, s)
    return back1(y) if rank == 1 else back2(y)


def dense(w, key, x):
    return x @ w[key + ".kernel"] + w[key + ".bias"]


CASES = [
    # Conv1D
    Case("conv1d_valid_relu", program([7, 3], ["Conv1D(4, 3, activation = relu)"]),
         x_shape=(3, 7, 3), weights={"conv1d.kernel": (3, 3, 4), "conv1d.bias": (4,)},
         forward=lambda w, x, t: F.relu(conv1d(x, w["conv1d.kernel"], w["conv1d.bias"]))),
    Case("conv1d_same_odd_stride", program([8, 2], ["Conv1D(3, 4, strides = 3, padding = \"same\")"]),
         x_shape=(3, 8, 2), weights={"conv1d.kernel": (4, 2, 3), "conv1d.bias": (3,)},
         forward=lambda w, x, t: conv1d(x, w["conv1d.kernel"], w["conv1d.bias"], s=3, padding="same")),
    Case("conv1d_causal_dilated", program([7, 2], ["Conv1D(3, 3, padding = \"causal\", dilation_rate = 2)"]),
         x_shape=(2, 7, 2), weights={"conv1d.kernel": (3, 2, 3), "conv1d.bias": (3,)},
         forward=lambda w, x, t: conv1d(x, w["conv1d.kernel"], w["conv1d.bias"], padding="causal", d=2)),
    Case("conv1d_groups", program([6, 4], ["Conv1D(6, 2, groups = 2, padding = \"same\")"]),
         x_shape=(2, 6, 4), weights={"conv1d.kernel": (2, 2, 6), "conv1d.bias": (6,)},
         forward=lambda w, x, t: conv1d(x, w["conv1d.kernel"], w["conv1d.bias"], padding="same", groups=2)),
    # Conv2D
    Case("conv2d_valid_stride", program([6, 7, 2], ["Conv2D(3, [3, 2], strides = [2, 3])"]),
         x_shape=(2, 6, 7, 2), weights={"conv2d.kernel": (3, 2, 2, 3), "conv2d.bias": (3,)},
         forward=lambda w, x, t: conv2d(x, w["conv2d.kernel"], w["conv2d.bias"], s=(2, 3))),
    Case("conv2d_same_odd", program([5, 6, 2], ["Conv2D(3, 2, padding = \"same\", activation = tanh)"]),
         x_shape=(2, 5, 6, 2), weights={"conv2d.kernel": (2, 2, 2, 3), "conv2d.bias": (3,)},
         forward=lambda w, x, t: torch.tanh(conv2d(x, w["conv2d.kernel"], w["conv2d.bias"], padding="same"))),
    Case("conv2d_same_stride", program([7, 6, 2], ["Conv2D(2, 3, strides = 2, padding = \"same\")"]),
         x_shape=(2, 7, 6, 2), weights={"conv2d.kernel": (3, 3, 2, 2), "conv2d.bias": (2,)},
         forward=lambda w, x, t: conv2d(x, w["conv2d.kernel"], w["conv2d.bias"], s=(2, 2), padding="same")),
    Case("conv2d_dilated_same", program([6, 6, 2], ["Conv2D(2, 3, dilation_rate = [2, 1], padding = \"same\")"]),
         x_shape=(2, 6, 6, 2), weights={"conv2d.kernel": (3, 3, 2, 2), "conv2d.bias": (2,)},
         forward=lambda w, x, t: conv2d(x, w["conv2d.kernel"], w["conv2d.bias"], d=(2, 1), padding="same")),
    Case("conv2d_groups", program([4, 5, 4], ["Conv2D(4, 2, groups = 2)"]),
         x_shape=(2, 4, 5, 4), weights={"conv2d.kernel": (2, 2, 2, 4), "conv2d.bias": (4,)},
         forward=lambda w, x, t: conv2d(x, w["conv2d.kernel"], w["conv2d.bias"], groups=2)),
    # DepthwiseConv2D, SeparableConv2D
    Case("depthwise_same_multiplier", program([5, 6, 2], ["DepthwiseConv2D(3, depth_multiplier = 2, padding = \"same\")"]),
         x_shape=(2, 5, 6, 2), weights={"depthwise_conv2d.kernel": (3, 3, 2, 2), "depthwise_conv2d.bias": (4,)},
         forward=lambda w, x, t: depthwise2d(x, w["depthwise_conv2d.kernel"], w["depthwise_conv2d.bias"],
                                             padding="same")),
    Case("depthwise_stride", program([6, 5, 3], ["DepthwiseConv2D([2, 3], strides = 2)"]),
         x_shape=(2, 6, 5, 3), weights={"depthwise_conv2d.kernel": (2, 3, 3, 1), "depthwise_conv2d.bias": (3,)},
         forward=lambda w, x, t: depthwise2d(x, w["depthwise_conv2d.kernel"], w["depthwise_conv2d.bias"], s=(2, 2))),
    Case("separable_same",
         program([5, 5, 2], ["SeparableConv2D(3, 2, depth_multiplier = 2, padding = \"same\", activation = relu)"]),
         x_shape=(2, 5, 5, 2),
         weights={"separable_conv2d.depthwise_kernel": (2, 2, 2, 2),
                  "separable_conv2d.pointwise_kernel": (1, 1, 4, 3), "separable_conv2d.bias": (3,)},
         forward=lambda w, x, t: F.relu(conv2d(
             depthwise2d(x, w["separable_conv2d.depthwise_kernel"], None, padding="same"),
             w["separable_conv2d.pointwise_kernel"], w["separable_conv2d.bias"]))),
    Case("separable_dilated", program([6, 6, 2], ["SeparableConv2D(2, 2, dilation_rate = 2)"]),
         x_shape=(2, 6, 6, 2),
         weights={"separable_conv2d.depthwise_kernel": (2, 2, 2, 1),
                  "separable_conv2d.pointwise_kernel": (1, 1, 2, 2), "separable_conv2d.bias": (2,)},
         forward=lambda w, x, t: conv2d(
             depthwise2d(x, w["separable_conv2d.depthwise_kernel"], None, d=(2, 2)),
             w["separable_conv2d.pointwise_kernel"], w["separable_conv2d.bias"])),
    # Transposed convolutions
    Case("conv1d_transpose_valid_stride", program([4, 2], ["Conv1DTranspose(3, 3, strides = 2)"]),
         x_shape=(2, 4, 2), weights={"conv1d_transpose.kernel": (3, 3, 2), "conv1d_transpose.bias": (3,)},
         forward=lambda w, x, t: conv1d_transpose(x, w["conv1d_transpose.kernel"], w["conv1d_transpose.bias"], s=2)),
    Case("conv1d_transpose_same_stride", program([4, 2], ["Conv1DTranspose(2, 5, strides = 2, padding = \"same\")"]),
         x_shape=(2, 4, 2), weights={"conv1d_transpose.kernel": (5, 2, 2), "conv1d_transpose.bias": (2,)},
         forward=lambda w, x, t: conv1d_transpose(x, w["conv1d_transpose.kernel"], w["conv1d_transpose.bias"],
                                                  s=2, padding="same")),
    Case("conv1d_transpose_kernel_below_stride", program([3, 2], ["Conv1DTranspose(2, 2, strides = 3)"]),
         x_shape=(2, 3, 2), weights={"conv1d_transpose.kernel": (2, 2, 2), "conv1d_transpose.bias": (2,)},
         forward=lambda w, x, t: conv1d_transpose(x, w["conv1d_transpose.kernel"], w["conv1d_transpose.bias"], s=3)),
    Case("conv1d_transpose_dilated_same", program([5, 2], ["Conv1DTranspose(2, 3, dilation_rate = 2, padding = \"same\")"]),
         x_shape=(2, 5, 2), weights={"conv1d_transpose.kernel": (3, 2, 2), "conv1d_transpose.bias": (2,)},
         forward=lambda w, x, t: conv1d_transpose(x, w["conv1d_transpose.kernel"], w["conv1d_transpose.bias"],
                                                  d=2, padding="same")),
    Case("conv2d_transpose_valid", program([3, 4, 2], ["Conv2DTranspose(3, [2, 3], strides = [2, 1])"]),
         x_shape=(2, 3, 4, 2), weights={"conv2d_transpose.kernel": (2, 3, 3, 2), "conv2d_transpose.bias": (3,)},
         forward=lambda w, x, t: conv2d_transpose(x, w["conv2d_transpose.kernel"], w["conv2d_transpose.bias"],
                                                  s=(2, 1))),
    Case("conv2d_transpose_same_stride", program([3, 3, 2], ["Conv2DTranspose(2, 3, strides = 2, padding = \"same\")"]),
         x_shape=(2, 3, 3, 2), weights={"conv2d_transpose.kernel": (3, 3, 2, 2), "conv2d_transpose.bias": (2,)},
         forward=lambda w, x, t: conv2d_transpose(x, w["conv2d_transpose.kernel"], w["conv2d_transpose.bias"],
                                                  s=(2, 2), padding="same")),
    Case("conv1d_transpose_output_padding", program([4, 2], ["Conv1DTranspose(2, 3, strides = 2, output_padding = 1)"]),
         x_shape=(2, 4, 2), weights={"conv1d_transpose.kernel": (3, 2, 2), "conv1d_transpose.bias": (2,)},
         forward=lambda w, x, t: conv1d_transpose(x, w["conv1d_transpose.kernel"], w["conv1d_transpose.bias"],
                                                  s=2, op=1)),
    Case("conv1d_transpose_same_output_padding",
         program([3, 2], ["Conv1DTranspose(2, 5, strides = 3, padding = \"same\", output_padding = 1)"]),
         x_shape=(2, 3, 2), weights={"conv1d_transpose.kernel": (5, 2, 2), "conv1d_transpose.bias": (2,)},
         forward=lambda w, x, t: conv1d_transpose(x, w["conv1d_transpose.kernel"], w["conv1d_transpose.bias"],
                                                  s=3, padding="same", op=1)),
    Case("conv2d_transpose_output_padding",
         program([2, 3, 2], ["Conv2DTranspose(2, [2, 3], strides = [3, 2], output_padding = [2, 1])"]),
         x_shape=(2, 2, 3, 2), weights={"conv2d_transpose.kernel": (2, 3, 2, 2), "conv2d_transpose.bias": (2,)},
         forward=lambda w, x, t: conv2d_transpose(x, w["conv2d_transpose.kernel"], w["conv2d_transpose.bias"],
                                                  s=(3, 2), op=(2, 1))),
    # Pooling (a Dense in front holds weights whose gradient goes through the pooling)
    Case("max_pool1d_same", program([7, 2], ["Dense(3)", "MaxPooling1D(3, strides = 2, padding = \"same\")"]),
         x_shape=(3, 7, 2), weights={"dense.kernel": (2, 3), "dense.bias": (3,)},
         forward=lambda w, x, t: max_pool(dense(w, "dense", x), (3,), (2,), "same")),
    Case("avg_pool1d_valid", program([7, 2], ["Dense(3)", "AveragePooling1D(2)"]),
         x_shape=(3, 7, 2), weights={"dense.kernel": (2, 3), "dense.bias": (3,)},
         forward=lambda w, x, t: avg_pool(dense(w, "dense", x), (2,), (2,), "valid")),
    Case("avg_pool1d_same", program([7, 2], ["Dense(3)", "AveragePooling1D(4, strides = 1, padding = \"same\")"]),
         x_shape=(3, 7, 2), weights={"dense.kernel": (2, 3), "dense.bias": (3,)},
         forward=lambda w, x, t: avg_pool(dense(w, "dense", x), (4,), (1,), "same")),
    Case("max_pool2d_valid", program([5, 4, 2], ["Dense(2)", "MaxPooling2D(2)"]),
         x_shape=(2, 5, 4, 2), weights={"dense.kernel": (2, 2), "dense.bias": (2,)},
         forward=lambda w, x, t: max_pool(dense(w, "dense", x), (2, 2), (2, 2), "valid")),
    Case("max_pool2d_same", program([5, 6, 2], ["Dense(2)", "MaxPooling2D([3, 2], strides = [2, 1], padding = \"same\")"]),
         x_shape=(2, 5, 6, 2), weights={"dense.kernel": (2, 2), "dense.bias": (2,)},
         forward=lambda w, x, t: max_pool(dense(w, "dense", x), (3, 2), (2, 1), "same")),
    Case("avg_pool2d_same", program([5, 5, 2], ["Dense(2)", "AveragePooling2D(2, padding = \"same\")"]),
         x_shape=(2, 5, 5, 2), weights={"dense.kernel": (2, 2), "dense.bias": (2,)},
         forward=lambda w, x, t: avg_pool(dense(w, "dense", x), (2, 2), (2, 2), "same")),
    Case("avg_pool2d_same_stride", program([6, 5, 2], ["Dense(2)", "AveragePooling2D(3, strides = 2, padding = \"same\")"]),
         x_shape=(2, 6, 5, 2), weights={"dense.kernel": (2, 2), "dense.bias": (2,)},
         forward=lambda w, x, t: avg_pool(dense(w, "dense", x), (3, 3), (2, 2), "same")),
    Case("global_pooling",
         program([4, 5, 3], ["Dense(3)", "GlobalMaxPooling2D(keepdims = true)", "Dense(2)", "GlobalAveragePooling2D()"]),
         x_shape=(3, 4, 5, 3), weights={"dense.kernel": (3, 3), "dense.bias": (3,), "dense_1.kernel": (3, 2),
                                        "dense_1.bias": (2,)},
         forward=lambda w, x, t: torch.mean(dense(w, "dense_1", torch.amax(dense(w, "dense", x), dim=(1, 2), keepdim=True)),
                                            dim=(1, 2))),
    Case("global_pooling1d",
         program([6, 3], ["Dense(3)", "GlobalAveragePooling1D(keepdims = true)", "Dense(2)", "GlobalMaxPooling1D()"]),
         x_shape=(3, 6, 3), weights={"dense.kernel": (3, 3), "dense.bias": (3,), "dense_1.kernel": (3, 2),
                                     "dense_1.bias": (2,)},
         forward=lambda w, x, t: torch.amax(dense(w, "dense_1", torch.mean(dense(w, "dense", x), dim=1, keepdim=True)),
                                            dim=1)),
]
