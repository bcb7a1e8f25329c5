#!/usr/bin/env python3
"""Extracts the innermost multiply-accumulate loop of each AArch64 microkernel
from `objdump -d` output (used by scripts/arm-mca.sh).

Usage: arm_mca_loops.py OBJDUMP_TEXT OUT_DIR
Writes OUT_DIR/<kernel>.s (the loop body as assembly llvm-mca accepts, the
closing branch rewritten to a local label) and prints one line per kernel:
<kernel> <MACs per iteration> <instructions>.
A loop is a backward branch and its target; the kernel's loop is the one with
no other loop inside and the most multiply-accumulate instructions.
"""
import re
import sys

# MACs of one instruction, by mnemonic (all on 128-bit vectors here).
MACS = {"sdot": 16, "udot": 16, "smmla": 32, "ummla": 32, "usmmla": 32,
        "fmla": 4, "smlal": 4, "smlal2": 4}

FUNC = re.compile(r"^[0-9a-f]+ <(.*)>:$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*?)\s*(//.*)?$")
BRANCH = re.compile(r"^(b\.\w+|b|cbz|cbnz|tbz|tbnz)$")


def kernel_name(symbol):
    """'...DotMicroT<4, 16, (...LoadVariant)1>::Run(...)' -> 'dot_4x16_ld64'."""
    m = re.search(r"(Dot|Mmla|NeonS8|Fmla)(?:MicroT?|Kernel)<(\d+), (\d+), \(qtune::kernels::arm::LoadVariant\)(\d)>",
                  symbol)
    if not m:
        return None
    family = {"Dot": "dot", "Mmla": "i8mm", "NeonS8": "neon", "Fmla": "fp32"}.get(m.group(1))
    if family is None:
        return None
    return "%s_%sx%s%s" % (family, m.group(2), m.group(3), "_ld64" if m.group(4) == "1" else "")


def loops(insns):
    """(start, end) index ranges of backward branches."""
    index = {addr: i for i, (addr, _, _) in enumerate(insns)}
    found = []
    for i, (addr, op, args) in enumerate(insns):
        if not BRANCH.match(op):
            continue
        target = re.search(r"\b([0-9a-f]+) <", args)
        if target:
            t = int(target.group(1), 16)
            if t <= addr and t in index:
                found.append((index[t], i))
    return found


def macs(insns, start, end):
    return sum(MACS.get(op, 0) for _, op, _ in insns[start:end + 1])


def main():
    text, out_dir = sys.argv[1], sys.argv[2]
    funcs, current = {}, None
    for line in open(text):
        line = line.rstrip("\n")
        m = FUNC.match(line)
        if m:
            current = kernel_name(m.group(1))
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
    for name in sorted(funcs):
        insns = funcs[name]
        ranges = loops(insns)
        inner = [(s, e) for s, e in ranges
                 if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in ranges)]
        if not inner:
            continue
        s, e = max(inner, key=lambda r: (macs(insns, *r), r[1] - r[0]))
        if macs(insns, s, e) == 0:
            continue
        with open("%s/%s.s" % (out_dir, name), "w") as out:
            out.write("loop:\n")
            for _, op, args in insns[s:e + 1]:
                if BRANCH.match(op):
                    args = re.sub(r"\b[0-9a-f]+ <.*$", "loop", args)
                out.write("\t%s %s\n" % (op, args))
        print(name, macs(insns, s, e), e - s + 1)


if __name__ == "__main__":
    main()
