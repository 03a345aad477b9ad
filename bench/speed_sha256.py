#!/usr/bin/env python3
"""Times `busybox sha256sum` of a 50 MB file natively, under qemu-x86_64 and under mmuemu (functional
model with and without instruction counting, and the default full timing model),
side by side in one run (interleaved, so machine noise hits all of them alike), and prints the
medians and ratios as a Markdown table. Also checks that all of them print the same digest.

Usage: bench/speed_sha256.py [--mmuemu build/emu/mmuemu] [--runs 5] [--size-mb 50] [--json out.json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mmuemu", default="build/emu/mmuemu")
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    if not os.access(a.mmuemu, os.X_OK):
        sys.exit(f"speed_sha256: {a.mmuemu} not found (build first: scripts/build.sh build)")
    qemu = shutil.which("qemu-x86_64")
    with tempfile.TemporaryDirectory() as td:
        data = os.path.join(td, "data.bin")
        # Deterministic pseudo-random content.
        with open(data, "wb") as f:
            x = 0x12345678
            chunk = bytearray()
            for _ in range(a.size_mb * 1024 * 1024 // 4):
                x = (x * 1103515245 + 12345) & 0xFFFFFFFF
                chunk += x.to_bytes(4, "little")
                if len(chunk) >= 1 << 20:
                    f.write(chunk)
                    chunk = bytearray()
            f.write(chunk)
        cmds = {"native": [a.busybox, "sha256sum", data]}
        if qemu:
            cmds["qemu-x86_64"] = [qemu, a.busybox, "sha256sum", data]
        cmds["mmuemu functional --no-icount"] = [a.mmuemu, "run", "--no-report", "--model", "functional", "--no-icount",
                                                 "--", a.busybox, "sha256sum", data]
        cmds["mmuemu functional"] = [a.mmuemu, "run", "--no-report", "--model", "functional", "--", a.busybox,
                                     "sha256sum", data]
        cmds["mmuemu timing (default)"] = [a.mmuemu, "run", "--no-report", "--", a.busybox, "sha256sum", data]
        times = {k: [] for k in cmds}
        outputs = {}
        for _ in range(a.runs):
            for name, cmd in cmds.items():
                t0 = time.perf_counter()
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                t = time.perf_counter() - t0
                if p.returncode != 0:
                    sys.exit(f"speed_sha256: {name} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
                outputs[name] = p.stdout.split()[0]
                times[name].append(t)
        digests = set(outputs.values())
        if len(digests) != 1:
            sys.exit(f"speed_sha256: digests differ: {outputs}")
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"busybox sha256sum of {a.size_mb} MB, {a.runs} runs each, medians (digest {digests.pop().decode()[:16]}…)\n")
        print("| runner | median s | vs native | vs qemu-x86_64 |")
        print("|---|---:|---:|---:|")
        for k, v in med.items():
            vq = f"{v / med['qemu-x86_64']:.2f}×" if "qemu-x86_64" in med else "n/a"
            print(f"| {k} | {v:.3f} | {v / med['native']:.2f}× | {vq} |")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"benchmark": "busybox-sha256sum", "size_mb": a.size_mb, "runs": a.runs,
                           "times": times, "medians": med}, f, indent=2)


if __name__ == "__main__":
    main()
