#!/usr/bin/env python3
# Generator of the inline-assembly body of Dot4x16A55 in kernels/arm/micro_impl.h
# (the Cortex-A55 schedule of the 4x16c4 sdot loop). Run it and paste its
# output between `asm volatile(` and the operand lists when changing the
# schedule: python3 scripts/gen_a55_schedule.py
# Emits the Cortex-A55 schedule of the 4x16c4 sdot kernel (all taps, 16
# channels per inner iteration) as the lines of a C++ string literal.
def stream(loads, temps):
    # 128-bit loads as ldr d + ldr x + ins, temps rotating, the ins one load later.
    ops, pending = [], []
    for i, (v, base, off) in enumerate(loads):
        t = temps[i % len(temps)]
        ops.append(f"ldr d{v}, [{base}, #{off}]")
        ops.append(f"ldr {t}, [{base}, #{off + 8}]")
        pending.append(f"ins v{v}.d[1], {t}")
        if len(pending) == 2:
            ops.append(pending.pop(0))
    return ops + pending

X = ["%[xt0]", "%[xt1]", "%[xt2]", "%[xt3]"]
B = ["%[x0]", "%[x1]", "%[x2]", "%[x3]"]
W = "%[w]"
T = ["%[t0]", "%[t1]", "%[t2]"]
def acc(m, j): return f"v{16 + 4 * m + j}.4s"
def bset(l): return [4, 5, 6, 7] if l % 2 == 0 else [8, 9, 10, 11]

lines = [f"ldp q{16 + 2 * i}, q{17 + 2 * i}, [%[acc], #{32 * i}]" for i in range(8)]
lines += ["2:", "ldr %[toff], [%[taps]], #8"]
lines += [f"add {X[m]}, {B[m]}, %[toff]" for m in range(4)]
lines += ["mov %[cnt], %[n]"]
lines += stream([(m, X[m], 0) for m in range(4)] + [(bset(0)[j], W, j * 16) for j in range(4)], T)
lines.append("1:")
for l in range(4):
    sd = [f"sdot {acc(m, j)}, v{bset(l)[j]}.16b, v{m}.4b[{l}]" for m in range(4) for j in range(4)]
    if l < 3:
        ops = stream([(bset(l + 1)[j], W, ((l + 1) * 4 + j) * 16) for j in range(4)], T)
    else:  # next iteration: weights of step 0, and each row after its last use
        ops = stream([(bset(0)[j], W, 256 + j * 16) for j in range(4)] +
                     [(m, X[m], 16) for m in range(4)], T)
    out, k = [], 0
    for s in sd:
        out.append(s)
        if k < len(ops) and k < 12:
            out.append(ops[k]); k += 1
    lines += out + ops[k:]
lines += [f"add {x}, {x}, #16" for x in X]
lines += [f"add {W}, {W}, #256", "subs %[cnt], %[cnt], #1", "b.ne 1b"]
lines += [f"add {W}, {W}, %[wskip]", "subs %[ntaps], %[ntaps], #1", "b.ne 2b"]
lines += [f"stp q{16 + 2 * i}, q{17 + 2 * i}, [%[acc], #{32 * i}]" for i in range(8)]
for l in lines:
    print(f'      "{l}\\n"')
