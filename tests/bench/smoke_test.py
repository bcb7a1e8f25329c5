#!/usr/bin/env python3
"""Smoke test of qtune-bench: tiny shapes, 1 and 2 threads, 2 trials, one round.

usage: smoke_test.py QTUNE_BENCH WORKDIR

Checks the JSON fields and that qtune matches the reference and oneDNN's
int8 output (differences allowed only where the documented epilogue model
explains them). Asserts no timing beyond "a positive median exists".
"""
import json
import os
import subprocess
import sys


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    bench, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    out = os.path.join(workdir, "smoke.json")
    shapes = ["N=1,H=9,W=7,C=19,K=21,R=3,S=3,stride=1,pad=1",
              "N=1,H=8,W=8,C=16,K=32,R=1,S=1,stride=2,pad=0,act=none",
              "dense/int8/N=1,C=100,K=37"]
    cmd = [bench, "conv", "--threads", "1,2", "--trials", "2", "--rounds", "1",
           "--block-ms", "1", "--block-runs", "2", "--trial-ms", "1",
           "--max-remeasure", "0", "--peer", "onednn", "--json", out]
    for s in shapes:
        cmd += ["--shape", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=50)
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    if proc.returncode != 0:
        fail(f"exit code {proc.returncode}")
    with open(out) as f:
        doc = json.load(f)
    for key in ("benchmark", "peer", "runs", "scaling", "omp_wait_policy", "summary"):
        if key not in doc:
            fail(f"missing top-level key {key}")
    runs = doc["runs"]
    if [r["threads"] for r in runs] != [1, 2]:
        fail("expected runs with threads 1 and 2")
    if len(doc["scaling"]) != 1 or doc["scaling"][0]["to_threads"] != 2:
        fail("expected one scaling entry 1 -> 2")
    layers = runs[0]["layers"] + runs[1]["layers"]
    if len(layers) != 2 * len(shapes):
        fail(f"expected {len(shapes)} layers, got {len(layers)}")
    for layer in layers:
        for key in ("name", "shape", "macs", "qtune_int8_us", "onednn_int8_us",
                    "qtune_fp32_us", "onednn_fp32_us", "kernel", "config",
                    "matches_reference", "onednn_diff"):
            if key not in layer:
                fail(f"{layer.get('name')}: missing key {key}")
        for key in ("qtune_int8_us", "onednn_int8_us", "qtune_fp32_us", "onednn_fp32_us"):
            if not (isinstance(layer[key], (int, float)) and layer[key] > 0):
                fail(f"{layer['name']}: {key} = {layer[key]!r}")
        if layer["config"] and f"threads={layer['threads']}" not in layer["config"]:
            fail(f"{layer['name']}: config {layer['config']} does not pin threads")
        if layer["matches_reference"] is not True:
            fail(f"{layer['name']}: qtune int8 does not match the reference")
        if layer["fp32"]["matches_reference"] is not True:
            fail(f"{layer['name']}: qtune fp32 does not match the reference")
        if layer["fp32"]["onednn_matches_reference"] is not True:
            fail(f"{layer['name']}: oneDNN fp32 does not match the reference")
        if layer["onednn_diff"] != layer["onednn_diff_explained"]:
            fail(f"{layer['name']}: {layer['onednn_diff']} elements differ from oneDNN, "
                 f"only {layer['onednn_diff_explained']} explained")
        if layer["onednn_model_misses"] != 0:
            fail(f"{layer['name']}: oneDNN's output differs from the epilogue model in "
                 f"{layer['onednn_model_misses']} elements")
        if layer["onednn_diff"] > 0 and layer["onednn_diff_max_abs"] > 1:
            fail(f"{layer['name']}: oneDNN differs by more than 1")
    summary = runs[0]["summary"]
    for key in ("qtune_int8_us", "onednn_int8_us", "qtune_int8_speedup_over_fp32",
                "onednn_over_qtune_int8"):
        if key not in summary:
            fail(f"summary: missing key {key}")

    # --peer-max-isa: oneDNN held to AVX2 runs AVX2 kernels and says so.
    held = os.path.join(workdir, "held.json")
    proc = subprocess.run([bench, "conv", "--threads", "1", "--trials", "2", "--rounds", "1",
                           "--block-ms", "1", "--block-runs", "2", "--trial-ms", "1",
                           "--max-remeasure", "0", "--dtype", "int8", "--peer-max-isa", "avx2",
                           "--shape", shapes[0], "--json", held],
                          capture_output=True, text=True, timeout=50)
    if proc.returncode != 0:
        fail(f"--peer-max-isa avx2: exit {proc.returncode}: {proc.stderr}")
    with open(held) as f:
        doc = json.load(f)
    if doc.get("peer_max_isa") != "avx2" or not doc["peer"].endswith("isa avx2"):
        fail(f"--peer-max-isa avx2: peer {doc.get('peer')!r}, peer_max_isa {doc.get('peer_max_isa')!r}")
    for layer in doc["runs"][0]["layers"]:
        if "avx512" in layer["int8"]["onednn_impl"]:
            fail(f"--peer-max-isa avx2: oneDNN ran {layer['int8']['onednn_impl']}")
    bad = subprocess.run([bench, "conv", "--shape", shapes[0], "--peer-max-isa", "avx9"],
                         capture_output=True, text=True, timeout=20)
    if bad.returncode != 2 or bad.stderr.count("\n") != 1 or "avx9" not in bad.stderr:
        fail(f"bad --peer-max-isa: exit {bad.returncode}, stderr {bad.stderr!r}")

    bad = subprocess.run([bench, "conv", "--shape", "N=1,H=0"], capture_output=True,
                         text=True, timeout=20)
    if bad.returncode != 2 or bad.stderr.count("\n") != 1:
        fail(f"bad --shape: exit {bad.returncode}, stderr {bad.stderr!r}")
    print("OK")


if __name__ == "__main__":
    main()
