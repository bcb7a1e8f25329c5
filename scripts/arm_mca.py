#!/usr/bin/env python3
"""ARM speed without a phone: the inner loop of every AArch64 microkernel,
taken from the compiled objects, through llvm-mca's core models; prints
multiply-accumulates per cycle, % of the model's sdot peak (int8) or fmla
peak (fp32), and the int8/fp32 ratio against the fp32 kernel of the same tile
and load variant. Called by scripts/arm-mca.sh (see its --help).

Usage: arm_mca.py --objdump TOOL --mca TOOL [--json FILE] OBJECT...
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

MODELS = ["cortex-a55", "neoverse-n1", "neoverse-v1"]
# Cores whose model (and silicon) have i8mm: smmla loops are timed only there.
I8MM_MODELS = {"neoverse-v1"}
MATTR = "+dotprod,+i8mm"
ITERATIONS = 200
TARGET_PEAK = 85.0   # int8 loops: % of the sdot peak on neoverse-n1 / v1
TARGET_RATIO = 3.5   # int8 MACs/cycle over the fp32 loop's

# MACs of one instruction (128-bit vectors).
MACS = {"sdot": 16, "udot": 16, "smmla": 32, "ummla": 32, "usmmla": 32,
        "fmla": 4, "smlal": 4, "smlal2": 4}

FUNC = re.compile(r"^[0-9a-f]+ <(.*)>:$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*?)\s*(//.*)?$")
BRANCH = re.compile(r"^(b\.\w+|b|cbz|cbnz|tbz|tbnz)$")
SYMBOL = re.compile(r"(Dot|Mmla|NeonS8|Fmla)(?:MicroT?|Kernel)<(\d+), (\d+), "
                    r"\(qtune::kernels::arm::LoadVariant\)(\d)>")
FAMILY = {"Dot": "neondot", "Mmla": "neoni8mm", "NeonS8": "neon", "Fmla": "neon-fp32"}


def kernel_key(symbol):
    m = SYMBOL.search(symbol)
    if not m:
        return None
    return (FAMILY[m.group(1)], int(m.group(2)), int(m.group(3)), m.group(4) == "1")


def parse_objdump(text):
    """{kernel key: [(address, mnemonic, operands)]} of the microkernels."""
    funcs, current = {}, None
    for line in text.splitlines():
        m = FUNC.match(line)
        if m:
            current = kernel_key(m.group(1))
            if current:
                funcs.setdefault(current, [])
            continue
        if current is None:
            continue
        m = INSN.match(line)
        if m:
            funcs[current].append((int(m.group(1), 16), m.group(2), m.group(3)))
        elif not line.strip():
            current = None
    return funcs


def macs(insns):
    return sum(MACS.get(op, 0) for _, op, _ in insns)


def inner_loop(insns):
    """The loop (backward branch .. its target) with no loop inside and the
    most multiply-accumulates: the kernel's main reduction loop."""
    index = {addr: i for i, (addr, _, _) in enumerate(insns)}
    ranges = []
    for i, (addr, op, args) in enumerate(insns):
        target = re.search(r"\b([0-9a-f]+) <", args)
        if BRANCH.match(op) and target:
            t = int(target.group(1), 16)
            if t <= addr and t in index:
                ranges.append((index[t], i))
    inner = [(s, e) for s, e in ranges
             if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in ranges)]
    best = max(inner, key=lambda r: (macs(insns[r[0]:r[1] + 1]), r[1] - r[0]), default=None)
    if best is None or macs(insns[best[0]:best[1] + 1]) == 0:
        return None
    return insns[best[0]:best[1] + 1]


def to_asm(loop):
    lines = ["loop:"]
    for _, op, args in loop:
        if BRANCH.match(op):
            args = re.sub(r"\b[0-9a-f]+ <.*$", "loop", args)
        lines.append("\t%s %s" % (op, args))
    return "\n".join(lines) + "\n"


def mca_cycles(mca, asm, model, workdir):
    path = os.path.join(workdir, "loop.s")
    with open(path, "w") as f:
        f.write(asm)
    out = subprocess.run([mca, "-mtriple=aarch64", "-mcpu=" + model, "-mattr=" + MATTR,
                          "-iterations=%d" % ITERATIONS, path],
                         capture_output=True, text=True)
    m = re.search(r"Total Cycles:\s+(\d+)", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError("llvm-mca failed on %s: %s" % (model, out.stderr.strip()[:200]))
    return int(m.group(1)) / ITERATIONS


def peak(mca, insn, model, workdir):
    """MACs/cycle of 24 independent instructions: the model's peak."""
    body = "".join("\t%s\n" % insn.format(i) for i in range(24))
    return 24 * MACS[insn.split()[0]] / mca_cycles(mca, "loop:\n" + body, model, workdir)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objdump", required=True)
    ap.add_argument("--mca", required=True)
    ap.add_argument("--json")
    ap.add_argument("objects", nargs="+")
    args = ap.parse_args()

    funcs = {}
    for obj in args.objects:
        text = subprocess.run([args.objdump, "-d", "--no-show-raw-insn", "-C", obj],
                              capture_output=True, text=True, check=True).stdout
        for key, insns in parse_objdump(text).items():
            funcs.setdefault(key, []).extend(insns)

    rows = []
    with tempfile.TemporaryDirectory() as work:
        peaks = {m: {"sdot": peak(args.mca, "sdot v{0}.4s, v30.16b, v31.4b[0]", m, work),
                     "fmla": peak(args.mca, "fmla v{0}.4s, v30.4s, v31.s[0]", m, work)}
                 for m in MODELS}
        for key in sorted(funcs, key=lambda k: (["neoni8mm", "neondot", "neon", "neon-fp32"]
                                                .index(k[0]), k[1], k[2], k[3])):
            loop = inner_loop(funcs[key])
            if loop is None:
                continue
            asm = to_asm(loop)
            row = {"path": key[0], "tile": "%dx%d" % (key[1], key[2]),
                   "load": "ld64" if key[3] else "ldq", "macs_per_iteration": macs(loop),
                   "instructions": len(loop), "models": {}}
            for model in MODELS:
                if key[0] == "neoni8mm" and model not in I8MM_MODELS:
                    continue
                cycles = mca_cycles(args.mca, asm, model, work)
                row["models"][model] = {"cycles": cycles, "macs_per_cycle": row["macs_per_iteration"] / cycles}
            rows.append(row)

    fp32 = {(r["tile"], r["load"]): r for r in rows if r["path"] == "neon-fp32"}
    print("llvm-mca %d iterations of each kernel's inner loop (MAC/c = multiply-accumulates per cycle)"
          % ITERATIONS)
    print("peaks (24 independent instructions): " + "; ".join(
        "%s sdot %.1f, fmla %.1f MAC/c" % (m, peaks[m]["sdot"], peaks[m]["fmla"]) for m in MODELS))
    header = "%-10s %-5s %-4s %5s" % ("path", "tile", "load", "MACs")
    for m in MODELS:
        header += " | %-11s %5s %6s %5s" % (m, "MAC/c", "%peak", "x f32")
    print(header)
    print("-" * len(header))
    misses = []
    for r in rows:
        line = "%-10s %-5s %-4s %5d" % (r["path"], r["tile"], r["load"], r["macs_per_iteration"])
        ref = fp32.get((r["tile"], r["load"]))
        for m in MODELS:
            cell = r["models"].get(m)
            if cell is None:
                line += " | %-11s %5s %6s %5s" % ("", "n/a", "", "")
                continue
            is_int8 = r["path"] != "neon-fp32"
            pk = peaks[m]["sdot"] if is_int8 else peaks[m]["fmla"]
            cell["pct_of_peak"] = 100.0 * cell["macs_per_cycle"] / pk
            ratio = ""
            if is_int8 and ref and m in ref["models"]:
                cell["ratio_to_fp32"] = cell["macs_per_cycle"] / ref["models"][m]["macs_per_cycle"]
                ratio = "%.2f" % cell["ratio_to_fp32"]
            line += " | %-11s %5.1f %5.0f%% %5s" % ("", cell["macs_per_cycle"], cell["pct_of_peak"], ratio)
            if r["path"] == "neondot" and r["load"] == "ldq" and m in ("neoverse-n1", "neoverse-v1"):
                if cell["pct_of_peak"] < TARGET_PEAK or cell.get("ratio_to_fp32", 99) < TARGET_RATIO:
                    misses.append("%s %s on %s: %.0f%% of peak, %.2fx fp32" % (
                        r["path"], r["tile"], m, cell["pct_of_peak"], cell.get("ratio_to_fp32", 0)))
        print(line)
    print("%peak: of the sdot peak for int8 (also neon smlal and i8mm smmla), of the fmla peak for fp32;"
          " x f32: MAC/c over the fp32 kernel of the same tile and load variant.")
    print("targets (neondot ldq tiles, neoverse-n1 and -v1): >= %.0f%% of the sdot peak and >= %.1fx fp32"
          % (TARGET_PEAK, TARGET_RATIO))
    if misses:
        print("below target: " + "; ".join(misses))
    else:
        print("all neondot ldq tiles meet both targets on neoverse-n1 and neoverse-v1")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"iterations": ITERATIONS, "peaks": peaks, "kernels": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
