#!/usr/bin/python3
"""Writes qtune's test models: ResNet18 and MobileNetV2 in fp32 and int8 ONNX, without downloads.

Weights are fixed random (seeded), with batch norm folded into the convolutions using statistics
measured on seeded random images, so activations keep a realistic per-channel spread. Int8 models
are quantised the way ONNX Runtime's static quantiser does it (MinMax calibration on seeded images,
asymmetric per-tensor activations, symmetric per-channel int8 weights, int32 bias, ReLU/ReLU6 folded
into the producer's output range), in QOperator form and in QDQ form. See docs/models.md.

Output (default build/models/): the .onnx files, models.json (the manifest) and
input_1x3x224x224.npy (the shared input). Same seed, numpy and BLAS -> same bytes.

Needs Debian python3-onnx (1.12) and python3-numpy; run with /usr/bin/python3.
--validate also runs every model in ONNX Runtime (scripts/peers/ort-bench.sh installs it).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # the Debian packages live in /usr/bin/python3's dist-packages only
    sys.exit(f"make_models: {e}; install python3-onnx python3-numpy (scripts/setup.sh) "
             "and run with /usr/bin/python3")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPSET = 13
MS_DOMAIN = "com.microsoft"
INPUT_SHAPE = (1, 3, 224, 224)
INPUT_FILE = "input_1x3x224x224.npy"
CALIB_IMAGES = 8      # MinMax calibration set
INIT_IMAGES = 4       # batch-norm statistics set
VALID_IMAGES = 16     # top-1 agreement set (ORT only)
SIG_DIGITS = 3        # measured statistics are rounded to this many significant digits

# ---------------------------------------------------------------------------------------------
# Deterministic inputs


def round_sig(x, digits=SIG_DIGITS):
    """Rounds to `digits` significant digits, so tiny BLAS differences do not change the bytes."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    nz = x != 0
    mag = np.floor(np.log10(np.abs(x[nz])))
    f = 10.0 ** (digits - 1 - mag)
    out[nz] = np.round(x[nz] * f) / f
    return out


def _interp_matrix(n_out, n_in):
    """Bilinear (align_corners=False) interpolation weights, [n_out, n_in]."""
    m = np.zeros((n_out, n_in))
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = pos - lo
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


def make_images(seed, count):
    """`count` images [count,3,224,224] float32 that look like normalised photos to a network:
    smooth structure at two scales plus texture, a colour cast and contrast of their own, clipped
    to the range of ImageNet-normalised pixels."""
    rng = np.random.default_rng(seed)
    h = INPUT_SHAPE[2]
    out = np.empty((count,) + INPUT_SHAPE[1:], np.float32)
    for i in range(count):
        img = np.zeros(INPUT_SHAPE[1:])
        for cells, weight in ((6, 1.0), (28, 0.5)):
            m = _interp_matrix(h, cells)
            low = rng.standard_normal((3, cells, cells)) + rng.standard_normal((1, cells, cells))
            img += weight * np.einsum("hi,cij,wj->chw", m, low, m)
        img += 0.25 * rng.standard_normal(img.shape)
        img = (img - img.mean()) / img.std()
        # Photos differ in colour cast, brightness and contrast: per image and channel.
        img = img * rng.uniform(0.4, 1.3) + rng.normal(0.0, 0.6, (3, 1, 1))
        out[i] = np.clip(img, -2.1, 2.6)
    return out


# ---------------------------------------------------------------------------------------------
# The network: a list of layers; every layer writes one tensor named by `y`.
#   conv:    x, w [K,C/g,R,S], b [K], stride, pad, group, act (None|'relu'|'relu6')
#   add:     a, b, act
#   maxpool: x (3x3, stride 2, pad 1)      gap: x      flatten: x      gemm: x, w [K,C], b [K]


class Net:
    def __init__(self, family):
        self.family = family
        self.layers = []
        self.bn = {}            # conv name -> (gamma, beta), folded by init_batchnorm
        self.fc_logit_std = 3.0

    def conv(self, rng, name, x, cin, cout, k, stride, pad, act, gamma, beta, group=1):
        fan_in = cin // group * k * k
        w = rng.standard_normal((cout, cin // group, k, k))
        if group > 1:
            # Depthwise filters get a low-pass part, as trained ones have: without it a 3x3
            # filter whose taps nearly cancel passes white quantisation noise far more than the
            # smooth image content, and batch norm then amplifies that channel.
            w += rng.uniform(0.5, 1.5, (cout, 1, 1, 1)) * rng.choice([-1.0, 1.0], (cout, 1, 1, 1))
        w *= np.sqrt(2.0 / fan_in)
        g = np.exp(rng.uniform(np.log(gamma[0]), np.log(gamma[1]), cout))
        b = rng.normal(beta[0], beta[1], cout)
        y = name
        self.layers.append(dict(op="conv", name=name, x=x, y=y, w=w.astype(np.float32),
                                b=np.zeros(cout, np.float32), stride=stride, pad=pad,
                                group=group, act=act))
        self.bn[name] = (g, b)
        return y

    def add(self, name, a, b, act):
        self.layers.append(dict(op="add", name=name, a=a, b=b, y=name, act=act))
        return name

    def simple(self, op, name, x):
        self.layers.append(dict(op=op, name=name, x=x, y=name))
        return name

    def gemm(self, rng, name, x, cin, cout, y):
        w = rng.standard_normal((cout, cin)).astype(np.float32)
        b = rng.normal(0.0, 0.2, cout)
        self.layers.append(dict(op="gemm", name=name, x=x, y=y, w=w, b=b.astype(np.float32)))
        return y

    def convs(self):
        return [l for l in self.layers if l["op"] == "conv"]


def resnet18(seed):
    """torchvision resnet18: conv1 7x7/2, maxpool, 4 stages of 2 BasicBlocks, GAP, fc."""
    rng = np.random.default_rng([seed, 18])
    n = Net("resnet18")
    wide, narrow = (0.4, 2.0), (0.15, 0.6)        # gamma ranges: inner convs, block outputs
    x = n.conv(rng, "conv1", "input", 3, 64, 7, 2, 3, "relu", wide, (0.0, 0.3))
    x = n.simple("maxpool", "maxpool", x)
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for blk in range(2):
            stride = 2 if (stage > 1 and blk == 0) else 1
            p = f"layer{stage}.{blk}"
            h = n.conv(rng, p + ".conv1", x, cin, cout, 3, stride, 1, "relu", wide, (0.0, 0.3))
            h = n.conv(rng, p + ".conv2", h, cout, cout, 3, 1, 1, None, narrow, (0.0, 0.1))
            skip = x
            if stride != 1 or cin != cout:
                skip = n.conv(rng, p + ".downsample", x, cin, cout, 1, stride, 0, None,
                              (0.3, 1.2), (0.0, 0.1))
            x = n.add(p + ".add", h, skip, "relu")
            cin = cout
    x = n.simple("gap", "avgpool", x)
    x = n.simple("flatten", "flatten", x)
    n.gemm(rng, "fc", x, 512, 1000, "output")
    return n


def mobilenetv2(seed):
    """torchvision mobilenet_v2: inverted residuals (1x1 expand, 3x3 depthwise, 1x1 project),
    ReLU6, residual adds, 1x1 conv to 1280, GAP, fc (the classifier's dropout is identity)."""
    rng = np.random.default_rng([seed, 2])
    n = Net("mobilenetv2")
    act_g, act_b = (0.8, 2.0), (1.0, 0.5)
    proj_g, proj_b = (0.5, 1.0), (0.0, 0.1)
    x = n.conv(rng, "features.0", "input", 3, 32, 3, 2, 1, "relu6", act_g, act_b)
    cin, idx = 32, 1
    for t, c, reps, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(reps):
            stride = s if i == 0 else 1
            p = f"features.{idx}"
            hidden = cin * t
            h = x
            if t != 1:
                h = n.conv(rng, p + ".expand", h, cin, hidden, 1, 1, 0, "relu6", act_g, act_b)
            h = n.conv(rng, p + ".dw", h, hidden, hidden, 3, stride, 1, "relu6", act_g, act_b,
                       group=hidden)
            h = n.conv(rng, p + ".project", h, hidden, c, 1, 1, 0, None, proj_g, proj_b)
            if stride == 1 and cin == c:
                h = n.add(p + ".add", h, x, None)
            x, cin, idx = h, c, idx + 1
    x = n.conv(rng, f"features.{idx}", x, cin, 1280, 1, 1, 0, "relu6", act_g, act_b)
    x = n.simple("gap", "avgpool", x)
    x = n.simple("flatten", "flatten", x)
    n.gemm(rng, "classifier", x, 1280, 1000, "output")
    return n


# ---------------------------------------------------------------------------------------------
# numpy fp32 forward pass (NCHW, float32)


def conv2d(x, w, b, stride, pad, group):
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    ho, wo = (h + 2 * pad - r) // stride + 1, (wd + 2 * pad - s) // stride + 1
    if r == 1 and s == 1 and pad == 0 and group == 1:
        cols = x[:, :, ::stride, ::stride].transpose(0, 2, 3, 1).reshape(-1, c)
        y = cols @ w.reshape(k, c).T
        return (y + b).reshape(n, ho, wo, k).transpose(0, 3, 1, 2)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if group == 1:
        win = np.lib.stride_tricks.sliding_window_view(xp, (r, s), axis=(2, 3))
        win = win[:, :, ::stride, ::stride][:, :, :ho, :wo]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * r * s)
        y = cols @ w.reshape(k, -1).T
        return (y + b).reshape(n, ho, wo, k).transpose(0, 3, 1, 2)
    if group == c == k and cg == 1:
        y = np.zeros((n, c, ho, wo), np.float32)
        for i in range(r):
            for j in range(s):
                tap = xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
                y += tap * w[None, :, 0, i, j, None, None]
        return y + b[None, :, None, None]
    raise ValueError(f"conv2d: group {group} with C={c}, K={k} is not supported")


def activation(y, act):
    if act == "relu":
        return np.maximum(y, 0)
    if act == "relu6":
        return np.clip(y, 0, 6)
    return y


def maxpool3x3s2(x):
    n, c, h, w = x.shape
    ho, wo = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    y = np.full((n, c, ho, wo), -np.inf, np.float32)
    for i in range(3):
        for j in range(3):
            y = np.maximum(y, xp[:, :, i:i + 2 * (ho - 1) + 1:2, j:j + 2 * (wo - 1) + 1:2])
    return y


def run_layer(l, t, pre_act=False):
    op = l["op"]
    if op == "conv":
        y = conv2d(t[l["x"]], l["w"], l["b"], l["stride"], l["pad"], l["group"])
        return y if pre_act else activation(y, l["act"])
    if op == "add":
        return activation(t[l["a"]] + t[l["b"]], l["act"])
    if op == "maxpool":
        return maxpool3x3s2(t[l["x"]])
    if op == "gap":
        return t[l["x"]].mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
    if op == "flatten":
        return t[l["x"]].reshape(t[l["x"]].shape[0], -1)
    if op == "gemm":
        return t[l["x"]] @ l["w"].T + l["b"]
    raise ValueError(op)


def forward(net, x, ranges=None, shapes=None):
    """Runs the network on x [N,3,224,224]; returns the logits. `ranges` collects each tensor's
    (min, max) over the batch, `shapes` each tensor's shape with N = 1."""
    t = {"input": x}
    for l in net.layers:
        y = run_layer(l, t).astype(np.float32)
        t[l["y"]] = y
        if ranges is not None:
            ranges[l["y"]] = (float(y.min()), float(y.max()))
        if shapes is not None:
            shapes[l["y"]] = (1,) + y.shape[1:]
    if ranges is not None:
        ranges["input"] = (float(x.min()), float(x.max()))
    return t["output"]


def init_batchnorm(net, x):
    """Folds each conv's batch norm: statistics of the conv's output on `x` (the network up to
    that conv already folded), gamma/beta from the network's draws. The fc gets a folded
    centring of the features (bias) and one scale so its logits vary between inputs with
    std ~3."""
    t = {"input": x}
    for l in net.layers:
        if l["op"] == "conv":
            z = run_layer(l, t, pre_act=True).astype(np.float64)
            mean = round_sig(z.mean(axis=(0, 2, 3)))
            std = round_sig(np.sqrt(z.var(axis=(0, 2, 3)) + 1e-5))
            gamma, beta = net.bn[l["name"]]
            f = gamma / std
            l["w"] = (l["w"] * f[:, None, None, None]).astype(np.float32)
            l["b"] = (beta - mean * f).astype(np.float32)
        elif l["op"] == "gemm":
            feat = t[l["x"]].astype(np.float64)
            mean = round_sig(feat.mean(axis=0))
            w = l["w"].astype(np.float64)
            scale = net.fc_logit_std / round_sig(((feat - mean) @ w.T).std())
            l["w"] = (w * scale).astype(np.float32)
            l["b"] = (l["b"] - (w * scale) @ mean).astype(np.float32)
        t[l["y"]] = run_layer(l, t).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Quantisation parameters, as onnxruntime.quantization computes them


def act_qparams(rmin, rmax, act_type):
    """Asymmetric per-tensor: range widened to include 0, scale = range / (qmax - qmin)."""
    qmin, qmax = (0, 255) if act_type == "u8" else (-128, 127)
    rmin, rmax = round_sig(min(rmin, 0.0)), round_sig(max(rmax, 0.0))
    scale = np.float32((rmax - rmin) / (qmax - qmin))
    if scale == 0:
        return np.float32(1.0), 0
    zp = int(np.clip(np.round(qmin - rmin / np.float64(scale)), qmin, qmax))
    return scale, zp


def weight_qparams_per_channel(w):
    """Symmetric int8 per output channel (axis 0): scale = max|w| / 127, zero point 0."""
    absmax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1).astype(np.float64)
    scale = (2 * absmax / 254.0).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.round(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127)
    return q.astype(np.int8), scale


def quantize_bias(b, x_scale, w_scale):
    bias_scale = (np.float32(x_scale) * w_scale).astype(np.float32)
    return np.round(b / bias_scale).astype(np.int32), bias_scale


# ---------------------------------------------------------------------------------------------
# ONNX emitters


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.value_info = [], [], {}
        self._names = set()

    def init(self, name, array):
        if name not in self._names:
            self._names.add(name)
            self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, outputs, name, domain=None, **attrs):
        kw = dict(attrs)
        if domain:
            kw["domain"] = domain
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **kw))
        return outputs[0]

    def info(self, name, elem_type, shape):
        self.value_info[name] = helper.make_tensor_value_info(name, elem_type, list(shape))

    def model(self, graph_name, out_name, out_shape, with_ms):
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, INPUT_SHAPE)]
        outputs = [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)]
        vi = [v for k, v in self.value_info.items() if k not in ("input", out_name)]
        g = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.inits, value_info=vi)
        opsets = [helper.make_opsetid("", OPSET)]
        if with_ms:
            opsets.append(helper.make_opsetid(MS_DOMAIN, 1))
        m = helper.make_model(g, opset_imports=opsets, producer_name="qtune make_models.py",
                              producer_version="1")
        return m


def conv_attrs(l):
    k = l["w"].shape[2]
    p = l["pad"]
    return dict(kernel_shape=[k, k], strides=[l["stride"]] * 2, pads=[p, p, p, p],
                dilations=[1, 1], group=l["group"])


def pool_attrs():
    return dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])


def emit_fp32(net, shapes):
    g = Graph()
    for l in net.layers:
        op, name, y = l["op"], l["name"], l["y"]
        act = l.get("act")
        out = y if not act else name + ".preact"
        if op == "conv":
            w = g.init(name + ".weight", l["w"])
            b = g.init(name + ".bias", l["b"])
            g.node("Conv", [l["x"], w, b], [out], name, **conv_attrs(l))
        elif op == "add":
            g.node("Add", [l["a"], l["b"]], [out], name)
        elif op == "maxpool":
            g.node("MaxPool", [l["x"]], [y], name, **pool_attrs())
        elif op == "gap":
            g.node("GlobalAveragePool", [l["x"]], [y], name)
        elif op == "flatten":
            g.node("Flatten", [l["x"]], [y], name, axis=1)
        elif op == "gemm":
            w = g.init(name + ".weight", l["w"])
            b = g.init(name + ".bias", l["b"])
            g.node("Gemm", [l["x"], w, b], [y], name, transB=1)
        if act == "relu":
            g.node("Relu", [out], [y], name + ".relu")
        elif act == "relu6":
            lo, hi = g.init("relu6.min", np.float32(0)), g.init("relu6.max", np.float32(6))
            g.node("Clip", [out, lo, hi], [y], name + ".relu6")
        if act:
            g.info(out, TensorProto.FLOAT, shapes[y])
        g.info(y, TensorProto.FLOAT, shapes[y])
    return g.model(net.family + "_fp32", "output", shapes["output"], with_ms=False)


def tensor_qparams(ranges, act_type):
    return {k: act_qparams(lo, hi, act_type) for k, (lo, hi) in ranges.items()}


def emit_qop(net, shapes, ranges):
    """QOperator form (u8 activations), what quantize_static(QuantFormat.QOperator, per_channel)
    emits: QuantizeLinear at the input, QLinearConv, com.microsoft QLinearAdd,
    QLinearGlobalAveragePool and QGemm, MaxPool on uint8, DequantizeLinear->Flatten->QuantizeLinear
    (Flatten is not in the quantiser's registry), DequantizeLinear at the output."""
    qp = tensor_qparams(ranges, "u8")
    g = Graph()
    u8 = TensorProto.UINT8

    def params(t):
        s, z = qp[t]
        return g.init(t + "_scale", np.float32(s)), g.init(t + "_zero_point", np.uint8(z))

    def qname(t):
        return t + "_quantized"

    s, z = params("input")
    g.node("QuantizeLinear", ["input", s, z], [qname("input")], "input_QuantizeLinear")
    g.info(qname("input"), u8, INPUT_SHAPE)
    for l in net.layers:
        op, name, y = l["op"], l["name"], l["y"]
        if op in ("conv", "gemm"):
            wq, ws = weight_qparams_per_channel(l["w"])
            bq, _ = quantize_bias(l["b"], qp[l["x"]][0], ws)
            xs, xz = params(l["x"])
            ys, yz = params(y)
            w = g.init(name + ".weight_quantized", wq)
            wsn = g.init(name + ".weight_scale", ws)
            wzn = g.init(name + ".weight_zero_point", np.zeros(len(ws), np.int8))
            b = g.init(name + ".bias_quantized", bq)
            if op == "conv":
                g.node("QLinearConv", [qname(l["x"]), xs, xz, w, wsn, wzn, ys, yz, b],
                       [qname(y)], name + "_quant", **conv_attrs(l))
            else:   # QGemm takes the bias before the output scale
                g.node("QGemm", [qname(l["x"]), xs, xz, w, wsn, wzn, b, ys, yz], [qname(y)],
                       name + "_quant", domain=MS_DOMAIN, transB=1)
        elif op == "add":
            a_s, a_z = params(l["a"])
            b_s, b_z = params(l["b"])
            ys, yz = params(y)
            g.node("QLinearAdd", [qname(l["a"]), a_s, a_z, qname(l["b"]), b_s, b_z, ys, yz],
                   [qname(y)], name + "_quant", domain=MS_DOMAIN)
        elif op == "maxpool":
            qp[y] = qp[l["x"]]             # MaxPool keeps its input's quantisation
            g.node("MaxPool", [qname(l["x"])], [qname(y)], name, **pool_attrs())
        elif op == "gap":
            xs, xz = params(l["x"])
            ys, yz = params(y)
            g.node("QLinearGlobalAveragePool", [qname(l["x"]), xs, xz, ys, yz], [qname(y)],
                   name + "_quant", domain=MS_DOMAIN, channels_last=0)
        elif op == "flatten":
            qp[y] = qp[l["x"]]             # Flatten moves no value: same range
            xs, xz = params(l["x"])
            g.node("DequantizeLinear", [qname(l["x"]), xs, xz], [l["x"]],
                   l["x"] + "_DequantizeLinear")
            g.info(l["x"], TensorProto.FLOAT, shapes[l["x"]])
            g.node("Flatten", [l["x"]], [y], name, axis=1)
            g.info(y, TensorProto.FLOAT, shapes[y])
            ys, yz = params(y)
            g.node("QuantizeLinear", [y, ys, yz], [qname(y)], y + "_QuantizeLinear")
        g.info(qname(y), u8, shapes[y])
    ys, yz = params("output")
    g.node("DequantizeLinear", [qname("output"), ys, yz], ["output"], "output_DequantizeLinear")
    return g.model(net.family + "_int8_qop", "output", shapes["output"], with_ms=True), qp


def emit_qdq(net, shapes, ranges, act_type):
    """QDQ form, what quantize_static(QuantFormat.QDQ, per_channel, activation_type) emits:
    QuantizeLinear->DequantizeLinear on every activation tensor a quantised op reads or writes,
    float Conv/Add/Gemm/GlobalAveragePool/MaxPool between them, int8 weights and int32 biases as
    initialisers behind DequantizeLinear (per channel, axis 0), ReLU/ReLU6 removed (the
    producer's output range is the activation's), Flatten left in float between Q/DQ pairs."""
    qp = tensor_qparams(ranges, act_type)
    g = Graph()
    qt = TensorProto.UINT8 if act_type == "u8" else TensorProto.INT8
    zp_dtype = np.uint8 if act_type == "u8" else np.int8
    f32 = TensorProto.FLOAT

    def qdq(t, float_name=None):
        """Q->DQ pair on tensor t; returns the name consumers read."""
        s, z = qp[t]
        sn = g.init(t + "_scale", np.float32(s))
        zn = g.init(t + "_zero_point", zp_dtype(z))
        src = float_name or t
        g.node("QuantizeLinear", [src, sn, zn], [t + "_QuantizeLinear_Output"],
               t + "_QuantizeLinear")
        out = "output" if t == "output" else t + "_DequantizeLinear_Output"
        g.node("DequantizeLinear", [t + "_QuantizeLinear_Output", sn, zn], [out],
               t + "_DequantizeLinear")
        g.info(t + "_QuantizeLinear_Output", qt, shapes.get(t, INPUT_SHAPE))
        if t != "output":
            g.info(out, f32, shapes.get(t, INPUT_SHAPE))
        return out

    def weight_dq(name, w, ws, bq, bs):
        wn = g.init(name + ".weight_quantized", w)
        wsn = g.init(name + ".weight_scale", ws)
        wzn = g.init(name + ".weight_zero_point", np.zeros(len(ws), np.int8))
        g.node("DequantizeLinear", [wn, wsn, wzn], [name + ".weight_DequantizeLinear_Output"],
               name + ".weight_DequantizeLinear", axis=0)
        bn = g.init(name + ".bias_quantized", bq)
        bsn = g.init(name + ".bias_quantized_scale", bs)
        bzn = g.init(name + ".bias_quantized_zero_point", np.zeros(len(bs), np.int32))
        g.node("DequantizeLinear", [bn, bsn, bzn], [name + ".bias_DequantizeLinear_Output"],
               name + ".bias_DequantizeLinear", axis=0)
        return name + ".weight_DequantizeLinear_Output", name + ".bias_DequantizeLinear_Output"

    dq = {"input": qdq("input")}
    for l in net.layers:
        op, name, y = l["op"], l["name"], l["y"]
        raw = y + "_QuantizeInput" if y == "output" else y
        if op in ("conv", "gemm"):
            wq, ws = weight_qparams_per_channel(l["w"])
            bq, bs = quantize_bias(l["b"], qp[l["x"]][0], ws)
            w, b = weight_dq(name, wq, ws, bq, bs)
            if op == "conv":
                g.node("Conv", [dq[l["x"]], w, b], [raw], name, **conv_attrs(l))
            else:
                g.node("Gemm", [dq[l["x"]], w, b], [raw], name, transB=1)
        elif op == "add":
            g.node("Add", [dq[l["a"]], dq[l["b"]]], [raw], name)
        elif op == "maxpool":
            qp[y] = qp[l["x"]]
            g.node("MaxPool", [dq[l["x"]]], [raw], name, **pool_attrs())
        elif op == "gap":
            g.node("GlobalAveragePool", [dq[l["x"]]], [raw], name)
        elif op == "flatten":
            qp[y] = qp[l["x"]]
            g.node("Flatten", [dq[l["x"]]], [raw], name, axis=1)
        g.info(raw, f32, shapes[y])
        dq[y] = qdq(y, raw)
    suffix = "_int8_qdq" if act_type == "u8" else "_s8s8_qdq"
    return g.model(net.family + suffix, "output", shapes["output"], with_ms=False), qp


# ---------------------------------------------------------------------------------------------
# Driver


def op_counts(model):
    counts = {}
    for n in model.graph.node:
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def check(model, path):
    onnx.checker.check_model(model, full_check=False)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(path, full_check=True)


def write_npy(path, array):
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MODELS = {
    # name: (family, format, activation type)
    "resnet18_fp32": ("resnet18", "fp32", "f32"),
    "resnet18_int8_qop": ("resnet18", "qop", "u8"),
    "resnet18_int8_qdq": ("resnet18", "qdq", "u8"),
    "resnet18_s8s8_qdq": ("resnet18", "qdq", "s8"),
    "mobilenetv2_fp32": ("mobilenetv2", "fp32", "f32"),
    "mobilenetv2_int8_qop": ("mobilenetv2", "qop", "u8"),
    "mobilenetv2_int8_qdq": ("mobilenetv2", "qdq", "u8"),
}
FAMILIES = {"resnet18": resnet18, "mobilenetv2": mobilenetv2}


def build_family(family, seed, log):
    net = FAMILIES[family](seed)
    log(f"{family}: folding batch norm on {INIT_IMAGES} images")
    init_batchnorm(net, make_images([seed, 1], INIT_IMAGES))
    log(f"{family}: calibrating on {CALIB_IMAGES} images")
    ranges, shapes = {}, {}
    logits = np.concatenate([forward(net, make_images([seed, 2, i], 1), ranges=_merge(ranges),
                                     shapes=shapes) for i in range(CALIB_IMAGES)])
    ranges = {k: tuple(v) for k, v in ranges.items()}
    shapes["input"] = INPUT_SHAPE
    if not np.all(np.isfinite(logits)):
        raise RuntimeError(f"{family}: non-finite logits")
    top1 = logits.argmax(axis=1)
    if np.ptp(logits, axis=1).min() == 0 or len(set(top1.tolist())) == 1:
        raise RuntimeError(f"{family}: degenerate logits (all equal, or one top-1 for all images)")
    log(f"{family}: calibration logits std {logits.std():.2f}, range [{logits.min():.2f}, "
        f"{logits.max():.2f}], {len(set(top1.tolist()))} distinct top-1 of {len(top1)}")
    return net, ranges, shapes


class _merge(dict):
    """A `ranges` sink that keeps min/max over several forward calls into the given dict."""
    def __init__(self, target):
        super().__init__()
        self.target = target

    def __setitem__(self, k, v):
        lo, hi = self.target.get(k, (np.inf, -np.inf))
        self.target[k] = (min(lo, v[0]), max(hi, v[1]))


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        bad_input(message)


def bad_input(message):
    """Bad flags or names: one line on stderr, exit code 2."""
    print(f"make_models: {message}", file=sys.stderr)
    sys.exit(2)


def main():
    ap = _Parser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Models: " + ", ".join(MODELS))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "models"),
                    help="output directory (default build/models)")
    ap.add_argument("--seed", type=int, default=1, help="seed of weights and images (default 1)")
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--validate", action="store_true",
                    help="also run every model in ONNX Runtime: fp32 against the numpy forward "
                         "pass, int8 top-1 against fp32 (needs scripts/peers/ort-bench.sh "
                         "--install-only first)")
    ap.add_argument("--ort-dir", default=os.path.join(ROOT, "build", "peers", "ort"),
                    help="where onnxruntime-node is installed (default build/peers/ort)")
    ap.add_argument("--quiet", action="store_true", help="print only errors and the summary")
    args = ap.parse_args()

    names = [n for n in args.only.split(",") if n] or list(MODELS)
    bad = [n for n in names if n not in MODELS]
    if bad:
        bad_input(f"unknown model {bad[0]!r}; known: {', '.join(MODELS)}")
    if args.seed < 0:
        bad_input("--seed must be >= 0")
    log = (lambda *a: None) if args.quiet else (lambda msg: print(msg, flush=True))
    os.makedirs(args.out, exist_ok=True)

    manifest_path = os.path.join(args.out, "models.json")
    manifest = {"models": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = json.load(f)
        if old.get("seed") == args.seed:
            manifest["models"] = {m["name"]: m for m in old.get("models", [])}

    x_shared = make_images([args.seed, 4], 1)
    write_npy(os.path.join(args.out, INPUT_FILE), x_shared)

    built, refs = {}, {}
    for family in dict.fromkeys(MODELS[n][0] for n in names):
        net, ranges, shapes = build_family(family, args.seed, log)
        refs[family] = (net, ranges, shapes)
        for name in [n for n in names if MODELS[n][0] == family]:
            _, fmt, act = MODELS[name]
            qp = None
            if fmt == "fp32":
                model = emit_fp32(net, shapes)
            elif fmt == "qop":
                model, qp = emit_qop(net, shapes, ranges)
            else:
                model, qp = emit_qdq(net, shapes, ranges, act)
            path = os.path.join(args.out, name + ".onnx")
            onnx.save(model, path)
            check(model, path)
            convs = [n for n in model.graph.node if n.op_type in ("Conv", "QLinearConv")]
            entry = {
                "name": name, "file": name + ".onnx", "family": family, "format": fmt,
                "activation_type": act, "weight_type": "f32" if fmt == "fp32" else "s8",
                "fp32_model": family + "_fp32",
                "input": {"name": "input", "shape": list(INPUT_SHAPE), "dtype": "float32"},
                "output": {"name": "output", "shape": list(shapes["output"]), "dtype": "float32"},
                "convs": len(convs),
                "depthwise_convs": sum(1 for c in net.convs() if c["group"] > 1),
                "op_counts": op_counts(model),
                "contrib_ops": sorted({n.op_type for n in model.graph.node
                                       if n.domain == MS_DOMAIN}),
                "opset": OPSET,
                "size_bytes": os.path.getsize(path),
                "sha256": sha256(path),
            }
            if qp is not None:
                s, z = qp["output"]
                entry["output_quantization"] = {"scale": float(s), "zero_point": int(z),
                                                "dtype": "uint8" if act == "u8" else "int8"}
            manifest["models"][name] = entry
            built[name] = entry
            log(f"wrote {path} ({entry['size_bytes'] / 1e6:.1f} MB, {entry['convs']} convs, "
                f"{len(model.graph.node)} nodes); checker and strict shape inference passed")

    manifest = {
        "generator": "scripts/models/make_models.py",
        "seed": args.seed,
        "onnx_version": onnx.__version__,
        "opset": OPSET,
        "input_file": INPUT_FILE,
        "input_sha256": sha256(os.path.join(args.out, INPUT_FILE)),
        "models": [manifest["models"][n] for n in MODELS if n in manifest["models"]],
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    log(f"wrote {manifest_path}")

    if args.validate:
        ok = validate(args, built, refs, x_shared, log)
        if not ok:
            sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Validation in ONNX Runtime (through scripts/peers/ort_bench.mjs infer)


def ort_infer(args, runs):
    """runs: [(model path, input .npy, output .npy)]. Runs ORT at 1 thread, writes the outputs."""
    cmd = ["node", os.path.join(ROOT, "scripts", "peers", "ort_bench.mjs"), "infer",
           "--ort-dir", args.ort_dir, "--threads", "1"]
    for model, x, y in runs:
        cmd += ["--run", f"{model}:{x}:{y}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ORT: {(r.stderr.strip() or r.stdout.strip()).splitlines()[-1:]}")


def validate(args, built, refs, x_shared, log):
    if not os.path.isdir(os.path.join(args.ort_dir, "node_modules", "onnxruntime-node")):
        sys.exit(f"make_models: --validate needs onnxruntime-node in {args.ort_dir}; "
                 "run scripts/peers/ort-bench.sh --install-only")
    ok = True
    with tempfile.TemporaryDirectory(prefix="qtune-models-") as tmp:
        xs = np.concatenate([x_shared] + [make_images([args.seed, 3, i], 1)
                                          for i in range(VALID_IMAGES)])
        xpath = os.path.join(tmp, "x.npy")
        write_npy(xpath, xs)
        runs = [(os.path.join(args.out, e["file"]), xpath, os.path.join(tmp, n + ".npy"))
                for n, e in built.items()]
        ort_infer(args, runs)
        outs = {n: np.load(os.path.join(tmp, n + ".npy")).reshape(len(xs), -1) for n in built}
        for family, (net, _, _) in refs.items():
            fp = family + "_fp32"
            if fp in outs:
                ref = np.concatenate([forward(net, xs[i:i + 1]) for i in range(3)])
                got = outs[fp][:3]
                err = np.abs(got - ref).max()
                tol = 1e-3 * max(1.0, np.abs(ref).max())
                same = (got.argmax(1) == ref.argmax(1)).all()
                ok &= bool(err <= tol and same)
                log(f"{fp}: ORT vs numpy on 3 inputs: max |diff| {err:.2e} (tolerance "
                    f"{tol:.1e}), top-1 equal: {same} -> {'ok' if err <= tol and same else 'FAIL'}")
            for n, e in built.items():
                if e["family"] != family or e["format"] == "fp32":
                    continue
                base = outs.get(fp)
                if base is None:
                    ref = np.concatenate([forward(net, xs[i:i + 1]) for i in range(len(xs))])
                else:
                    ref = base
                agree = int((outs[n].argmax(1) == ref.argmax(1)).sum())
                top5 = np.mean([ref[i].argmax() in np.argsort(-outs[n][i])[:5]
                                for i in range(len(xs))])
                rel = np.linalg.norm(outs[n] - ref) / np.linalg.norm(ref)
                passed = agree >= 0.5 * len(xs) and np.all(np.isfinite(outs[n]))
                ok &= bool(passed)
                log(f"{n}: top-1 equal to fp32 on {agree}/{len(xs)} inputs, fp32 top-1 in int8 "
                    f"top-5 {top5:.0%}, relative L2 error of logits {rel:.3f} -> "
                    f"{'ok' if passed else 'FAIL'}")
    return ok


if __name__ == "__main__":
    main()
