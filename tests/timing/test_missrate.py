#!/usr/bin/env python3
"""The pointer chase's DTLB and STLB miss rates rise with its working set as the TLB geometry
predicts (TAP output). Skylake preset: L1 DTLB 64 entries of 4 KiB (256 KiB reach), STLB 1536
entries (6 MiB reach). A random chase over
  - 128 KiB (32 pages) fits the L1 DTLB: almost no misses;
  - 4 MiB (1024 pages) overflows the L1 DTLB but fits the STLB: L1 misses, STLB hits;
  - 64 MiB (16384 pages) overflows both: most chase loads miss both and walk.
Setting up the chain (writing the whole working set) has good locality and would dilute a
whole-run rate, so each rate is taken over the chase alone: two runs with 200 000 and 600 000
steps, and rate = (misses difference) / (accesses difference). A second
part checks that a geometry change moves the rates the predicted way (a 16-entry L1 DTLB misses
more than the 64-entry one at 128 KiB).

Usage: test_missrate.py MMUEMU GUESTS_DIR
"""
import json
import os
import subprocess
import sys
import tempfile


def run_steps(mm, guests, ws, steps, extra):
    with tempfile.TemporaryDirectory() as td:
        rep = os.path.join(td, "r.json")
        prog = os.path.join(guests, "ptrchase-x86_64")
        cmd = [mm, "run", "--cpu", "skylake", *extra, "--report-format", "json", "--report", rep, "--",
               prog, str(ws), str(steps), "7"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise SystemExit(f"Bail out! {' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-300:]}")
        native = subprocess.run([prog, str(ws), str(steps), "7"], stdout=subprocess.PIPE).stdout
        if p.stdout != native:
            raise SystemExit("Bail out! guest output differs from the native run")
        with open(rep) as f:
            t = json.load(f)["timing"]["tlb"]
        return t["DTLB"]["accesses"], t["DTLB"]["misses"], t["STLB"]["accesses"], t["STLB"]["misses"]


def run(mm, guests, ws, extra=()):
    """Miss rates of the L1 DTLB and of the STLB over the chase steps alone."""
    a = run_steps(mm, guests, ws, 200000, extra)
    b = run_steps(mm, guests, ws, 600000, extra)
    d = [y - x for x, y in zip(a, b)]
    steps = 400000
    return d[1] / d[0], (d[3] / d[2] if d[2] else 0.0), d[1] / steps, d[3] / steps


def main():
    mm, guests = sys.argv[1], sys.argv[2]
    checks = []
    small = run(mm, guests, 128 << 10)
    mid = run(mm, guests, 4 << 20)
    big = run(mm, guests, 64 << 20)
    tiny_l1 = run(mm, guests, 128 << 10, ["--set", "dtlb.4k=16x4"])
    print(f"# DTLB miss rate: 128K {small[0]:.4f}, 4M {mid[0]:.4f}, 64M {big[0]:.4f}; 128K with 16-entry L1 {tiny_l1[0]:.4f}")
    print(f"# STLB miss rate: 128K {small[1]:.4f}, 4M {mid[1]:.4f}, 64M {big[1]:.4f}")
    checks.append(("128 KiB fits the L1 DTLB (miss rate < 1 %)", small[0] < 0.01))
    checks.append(("4 MiB overflows the L1 DTLB (miss rate > 20 %)", mid[0] > 0.20))
    checks.append(("L1 DTLB miss rate rises with the working set", small[0] < mid[0] <= big[0] + 1e-9))
    checks.append(("4 MiB fits the STLB (STLB miss rate < 10 %)", mid[1] < 0.10))
    checks.append(("64 MiB overflows the STLB (STLB miss rate > 50 %)", big[1] > 0.50))
    checks.append(("64 MiB: almost every chase step misses the L1 DTLB (> 40 %)", big[0] > 0.40))
    checks.append(("STLB miss rate rises from 4 MiB to 64 MiB", mid[1] < big[1]))
    # Closed form: a uniformly random chase over P pages through an LRU TLB of N entries hits with
    # probability N/P, so each step misses with probability 1 - N/P (one node load per step).
    exp_l1 = 1 - 64 / 1024
    exp_stlb = 1 - 1536 / 16384
    print(f"# L1 DTLB misses per step at 4 MiB: {mid[2]:.4f} (closed form {exp_l1:.4f}); "
          f"STLB misses per step at 64 MiB: {big[3]:.4f} (closed form {exp_stlb:.4f})")
    checks.append(("4 MiB: L1 DTLB misses per chase step match 1 - 64/1024 within 0.03", abs(mid[2] - exp_l1) < 0.03))
    checks.append(("64 MiB: STLB misses per chase step match 1 - 1536/16384 within 0.03", abs(big[3] - exp_stlb) < 0.03))
    checks.append(("a 16-entry L1 DTLB misses more at 128 KiB than the 64-entry one", tiny_l1[0] > small[0] + 0.05))
    print(f"1..{len(checks)}")
    ok = True
    for i, (name, good) in enumerate(checks, 1):
        print(f"{'ok' if good else 'not ok'} {i} - {name}")
        ok &= good
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
