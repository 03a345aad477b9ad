#!/usr/bin/env python3
"""Speed of the timing model, side by side in one run: each workload natively, under
qemu-x86_64, and under mmuemu with --model functional, --model hooks-only (per-access hooks that
return at once: the floor Unicorn's hook calls set) and the full timing model. Runs are
interleaved so machine noise hits every runner alike; medians of --runs runs.

Prints a Markdown table (median seconds, MIPS from mmuemu's own instruction count, ratios) and
the two figures the timing model is judged by: the geometric-mean MIPS of the full model and
the full model's time relative to the hooks-only floor. --json saves everything for later
comparison.

Usage: bench/speed_timing.py [--build build] [--runs 3] [--cpu skylake] [--json out.json]
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def workloads(build, td):
    g = os.path.join(build, "guests")
    data = os.path.join(td, "data.bin")
    with open(data, "wb") as f:
        x = 0x2545F491
        buf = bytearray()
        for _ in range(16 << 18):           # 16 MiB
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            buf += x.to_bytes(4, "little")
        f.write(buf)
    lines = os.path.join(td, "lines.txt")
    with open(lines, "w") as f:
        x = 12345
        for _ in range(200000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            f.write(f"{x}\n")
    return [
        ("checksum 64M", [os.path.join(g, "checksum-x86_64"), "64"]),
        ("ptrchase 64M", [os.path.join(g, "ptrchase-x86_64"), str(64 << 20), "4000000", "1"]),
        ("malloc_churn", [os.path.join(g, "malloc_churn-x86_64")]),
        ("busybox sha256sum 16M", ["/bin/busybox", "sha256sum", data]),
        ("busybox sort 200k", ["/bin/busybox", "sort", lines]),
        ("busybox gzip 16M", ["/bin/busybox", "gzip", "-c", data]),
    ]


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"speed_timing: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-400:]}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpu", default=None, help="CPU preset for the timing model")
    ap.add_argument("--json")
    a = ap.parse_args()
    mm = os.path.join(a.build, "emu", "mmuemu")
    if not os.access(mm, os.X_OK):
        sys.exit(f"speed_timing: {mm} not found (build first: scripts/build.sh {a.build})")
    qemu = shutil.which("qemu-x86_64")
    results = {}
    with tempfile.TemporaryDirectory() as td:
        wl = workloads(a.build, td)
        rep = os.path.join(td, "r.json")
        models = [("functional", ["--model", "functional"]), ("hooks-only", ["--model", "hooks-only"]),
                  ("timing", ["--model", "timing"] + (["--cpu", a.cpu] if a.cpu else []))]
        for name, cmd in wl:
            r = {"native": [], "qemu-x86_64": [], **{m: [] for m, _ in models}}
            insns = {}
            for _ in range(a.runs):
                r["native"].append(run(cmd))
                if qemu:
                    r["qemu-x86_64"].append(run([qemu] + cmd))
                for m, margs in models:
                    r[m].append(run([mm, "run", "--report-format", "json", "--report", rep] + margs + ["--"] + cmd))
                    with open(rep) as f:
                        insns[m] = json.load(f)["run"]["instructions"]
            results[name] = {"times": r, "instructions": insns["timing"],
                             "median": {k: statistics.median(v) for k, v in r.items() if v}}
    print(f"mmuemu timing-model speed, {a.runs} runs each, medians (seconds; MIPS from mmuemu's instruction count)\n")
    cols = ["native", "qemu-x86_64", "functional", "hooks-only", "timing"]
    print("| workload | M insns | " + " | ".join(cols) + " | timing MIPS | timing / hooks-only | timing / qemu |")
    print("|---|---:|" + "---:|" * len(cols) + "---:|---:|---:|")
    mips, floor_ratio = [], []
    for name, res in results.items():
        m = res["median"]
        mi = res["instructions"] / m["timing"] / 1e6
        mips.append(mi)
        fr = m["timing"] / m["hooks-only"]
        floor_ratio.append(fr)
        cells = " | ".join(f"{m[c]:.3f}" if c in m else "n/a" for c in cols)
        q = f"{m['timing'] / m['qemu-x86_64']:.1f}×" if "qemu-x86_64" in m else "n/a"
        print(f"| {name} | {res['instructions'] / 1e6:.0f} | {cells} | {mi:.0f} | {fr:.2f}× | {q} |")
    gm = math.exp(sum(math.log(x) for x in mips) / len(mips))
    gf = math.exp(sum(math.log(x) for x in floor_ratio) / len(floor_ratio))
    print(f"\ngeometric mean: timing model {gm:.0f} MIPS; timing / hooks-only floor {gf:.2f}×")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"benchmark": "timing-speed", "runs": a.runs, "results": results,
                       "geomean_mips": gm, "geomean_floor_ratio": gf}, f, indent=2)


if __name__ == "__main__":
    main()
