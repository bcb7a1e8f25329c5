#!/usr/bin/python3
"""Compares two model outputs (.npy) element by element and prints the counts.

Quantised domain (--scale/--zero-point, or --manifest with --model for an int8 model's output
quantisation): both outputs are mapped back to integers q = round(x / scale) + zero_point and
compared as integers: exact, off by one, larger. Values that are not on the quantisation grid
(|x / scale - round(x / scale)| > 1e-3) are counted, since an output that went through
DequantizeLinear always is.

Float (no scale): |a - b| <= atol + rtol * |b| per element; prints the counts, max |a - b| and
whether the top-1 index agrees.

Exit codes: 0 when the outputs agree (quantised: no element differs by more than one step;
float: every element within tolerance), 1 when they do not, 2 for bad input (one line on stderr).
"""

import argparse
import json
import sys

try:
    import numpy as np
except ImportError:
    sys.exit("compare_outputs: numpy missing; install python3-numpy and use /usr/bin/python3")


def fail(msg):
    print(f"compare_outputs: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")


def quantised(a, b, scale, zp, dtype):
    lo, hi = (0, 255) if dtype == "uint8" else (-128, 127)
    ra, rb = a.astype(np.float64) / scale, b.astype(np.float64) / scale
    off_grid = int((np.abs(ra - np.round(ra)) > 1e-3).sum() + (np.abs(rb - np.round(rb)) > 1e-3).sum())
    qa = np.clip(np.round(ra) + zp, lo, hi).astype(np.int64)
    qb = np.clip(np.round(rb) + zp, lo, hi).astype(np.int64)
    d = np.abs(qa - qb)
    res = {
        "mode": "quantised", "elements": int(d.size), "exact": int((d == 0).sum()),
        "off_by_one": int((d == 1).sum()), "larger": int((d > 1).sum()),
        "max_abs_diff_steps": int(d.max()) if d.size else 0, "off_grid": off_grid,
        "top1_equal": bool(a.reshape(-1).argmax() == b.reshape(-1).argmax()) if a.size else True,
        "scale": scale, "zero_point": zp, "dtype": dtype,
    }
    idx = np.flatnonzero(d.reshape(-1))[:5]
    res["examples"] = [f"{int(i)}: {int(qa.reshape(-1)[i])} vs {int(qb.reshape(-1)[i])}" for i in idx]
    res["ok"] = res["larger"] == 0
    return res


def floating(a, b, rtol, atol):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if atol is None:
        atol = 1e-3 * float(np.abs(b64).max()) if b64.size else 0.0
    d = np.abs(a64 - b64)
    within = d <= atol + rtol * np.abs(b64)
    res = {
        "mode": "float", "elements": int(d.size), "within_tolerance": int(within.sum()),
        "outside_tolerance": int((~within).sum()), "max_abs_diff": float(d.max()) if d.size else 0.0,
        "rtol": rtol, "atol": atol,
        "top1_equal": bool(a.reshape(-1).argmax() == b.reshape(-1).argmax()) if a.size else True,
    }
    res["ok"] = res["outside_tolerance"] == 0
    return res


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        fail(message)


def main():
    ap = _Parser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="first output (.npy)")
    ap.add_argument("b", help="second output (.npy), the reference for relative tolerances")
    ap.add_argument("--scale", type=float, help="output scale of the int8 model")
    ap.add_argument("--zero-point", type=int, help="output zero point of the int8 model")
    ap.add_argument("--dtype", choices=("uint8", "int8"), default=None,
                    help="quantised type (default uint8, or the manifest's)")
    ap.add_argument("--manifest", help="models.json: take the output quantisation of --model")
    ap.add_argument("--model", help="model name in --manifest")
    ap.add_argument("--rtol", type=float, default=1e-3, help="float mode (default 1e-3)")
    ap.add_argument("--atol", type=float, default=None,
                    help="float mode (default 1e-3 * max |b|)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()

    scale, zp, dtype = args.scale, args.zero_point, args.dtype
    if args.manifest or args.model:
        if not (args.manifest and args.model):
            fail("--manifest and --model go together")
        try:
            with open(args.manifest) as f:
                entries = {e["name"]: e for e in json.load(f)["models"]}
        except (OSError, ValueError, KeyError) as e:
            fail(f"{args.manifest}: {e}")
        if args.model not in entries:
            fail(f"{args.model} is not in {args.manifest}")
        q = entries[args.model].get("output_quantization")
        if q:
            scale, zp, dtype = q["scale"], q["zero_point"], dtype or q["dtype"]
    if (scale is None) != (zp is None):
        fail("--scale and --zero-point go together")
    if scale is not None and not scale > 0:
        fail("--scale must be > 0")

    a, b = load(args.a), load(args.b)
    if a.size != b.size:
        fail(f"shapes differ: {a.shape} vs {b.shape}")
    a, b = a.reshape(-1), b.reshape(-1)
    if scale is not None:
        res = quantised(a, b, scale, zp, dtype or "uint8")
    else:
        res = floating(a, b, args.rtol, args.atol)
    res["a"], res["b"] = args.a, args.b

    if args.json:
        print(json.dumps(res))
    elif res["mode"] == "quantised":
        print(f"{res['elements']} elements (scale {scale:g}, zero point {zp}, {res['dtype']}): "
              f"exact {res['exact']}, off by one {res['off_by_one']}, larger {res['larger']}"
              f" (max {res['max_abs_diff_steps']} steps); top-1 equal: {res['top1_equal']}"
              + (f"; {res['off_grid']} values off the quantisation grid" if res["off_grid"] else "")
              + (f"; e.g. {', '.join(res['examples'])}" if res["examples"] else ""))
    else:
        print(f"{res['elements']} elements: within tolerance {res['within_tolerance']}, outside "
              f"{res['outside_tolerance']} (rtol {res['rtol']:g}, atol {res['atol']:.3g}), max |diff| "
              f"{res['max_abs_diff']:.3g}; top-1 equal: {res['top1_equal']}")
    sys.exit(0 if res["ok"] else 1)


if __name__ == "__main__":
    main()
