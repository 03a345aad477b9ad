#!/usr/bin/env python3
"""Cost of recording a trace, side by side on the pointer-chase guest (or --guest): an untraced run, a run
recording walks and faults (--trace-events walk,fault: the mode meant to be left on), and a run
recording everything (every TLB lookup). Runs are interleaved (untraced, walks+faults, all,
untraced, ...) so machine noise hits every variant alike; medians of --runs runs.

Reports, per variant: median wall seconds and median CPU seconds (user+sys of the child, less
sensitive to a shared machine), the ratio to the untraced run, the paired ratio (median over rounds
of the variant's wall time over the untraced run's of the same round; the order of the variants
turns each round), and for traced runs the trace
size, records, and compressed bytes per record and per lookup event. The targets of the trace
feature: walks+faults <= 1.10x untraced; all lookups <= 3x and <= 4 bytes per event.

Usage: bench/trace_speed.py [--build build] [--runs 5] [--guest ptrchase-x86_64] [--args "16M 2000000 1"]
                           [--json out.json]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr.decode()[-500:]))
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--guest", default="ptrchase-x86_64", help="guest program in BUILD/guests")
    ap.add_argument("--args", default=None, help="guest arguments (ptrchase default: 16M 2000000 1)")
    ap.add_argument("--json")
    o = ap.parse_args()
    mm = os.path.join(o.build, "emu", "mmuemu")
    if o.args is None:
        o.args = "16M 2000000 1" if o.guest.startswith("ptrchase") else ""
    prog = os.path.join(o.build, "guests", o.guest)
    for p in (mm, prog):
        if not os.path.exists(p):
            sys.exit("missing %s (build first: ./scripts/build.sh %s)" % (p, o.build))
    with tempfile.TemporaryDirectory() as td:
        trc = os.path.join(td, "t.trc")
        variants = [
            ("untraced", []),
            ("walks+faults", ["--trace", trc, "--trace-events", "walk,fault"]),
            ("all events", ["--trace", trc]),
        ]
        times = {v[0]: [] for v in variants}
        info = {}
        for i in range(o.runs):
            # The order turns each round, so no variant always runs first or after another.
            for name, extra in variants[i % len(variants):] + variants[:i % len(variants)]:
                cmd = [mm, "run", "--no-report", *extra, "--", prog, *o.args.split()]
                wall, cpu = run(cmd)
                times[name].append((wall, cpu))
                if extra and i == 0:
                    st = subprocess.run([mm, "trace", "stats", "--format", "json", trc], stdout=subprocess.PIPE,
                                        check=True)
                    s = json.loads(st.stdout)
                    size = os.path.getsize(trc)
                    lookups = sum(s["timing"]["tlb"][l]["accesses"] for l in ("ITLB", "DTLB"))
                    info[name] = {"bytes": size, "records": s["records"], "records_by_kind": s["records_by_kind"],
                                  "lookup_accesses": lookups}
                print("run %d %-13s wall %.2f s cpu %.2f s" % (i + 1, name, wall, cpu), file=sys.stderr)
    base_w = statistics.median(t[0] for t in times["untraced"])
    base_c = statistics.median(t[1] for t in times["untraced"])
    print("%s %s, %d interleaved runs each, medians\n" % (o.guest, o.args, o.runs))
    print("| variant | wall s | x untraced | paired x | cpu s | x untraced | trace bytes | records | bytes/record | bytes/lookup record |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    out = {"guest": o.guest, "args": o.args, "runs": o.runs, "variants": {}}
    for name, _ in variants:
        w = statistics.median(t[0] for t in times[name])
        c = statistics.median(t[1] for t in times[name])
        inf = info.get(name, {})
        nb, nr = inf.get("bytes", 0), inf.get("records", 0)
        nl = inf.get("records_by_kind", {}).get("lookup", 0)
        # Paired: the median over rounds of this variant's wall time over the untraced run's of
        # the same round (runs of one round are seconds apart, so a slow spell of a shared
        # machine hits both).
        paired = statistics.median(t[0] / u[0] for t, u in zip(times[name], times["untraced"]))
        print("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s |" % (
            name, w, w / base_w, paired, c, c / base_c, nb or "-", nr or "-", "%.2f" % (nb / nr) if nr else "-",
            "%.2f" % (nb / nl) if nl else "-"))
        out["variants"][name] = {"wall": times[name], "median_wall": w, "median_cpu": c, "wall_ratio": w / base_w,
                                 "paired_wall_ratio": paired, "cpu_ratio": c / base_c, **inf}
    if o.json:
        with open(o.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
