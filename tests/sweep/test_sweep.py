#!/usr/bin/env python3
"""mmuemu sweep (TAP output), on tests/sweep/small.ini: 4 STLB sizes x 2 policies x 3 guests.

  - bad specs (unknown key or section, empty axis, missing or dynamic guest, invalid CPU,
    paging that does not fit a guest, bad range) fail with exit status 2 and a message naming
    the problem, before any job runs;
  - --emit-jobs prints one shell-quoted `mmuemu run` line per job;
  - the sweep is stopped half-way twice (SIGTERM: exit 143, no temporary files left; SIGKILL:
    its children die with it), then run to the end: rows made before are not run again (same
    mtimes, and the summary counts them as reused) and the CSV/JSON hold all 24 rows;
  - rows agree field by field with individual `mmuemu run` reports of the same configurations;
  - the sweep's parameters reach the runs (a 64-entry STLB misses more than a 1536-entry one);
  - --emit-jobs lines, run unchanged by a shell, make rows that --collect tabulates identically;
  - --plot draws overhead and miss-rate plots (SVG and PNG, non-trivial files).

Usage: test_sweep.py MMUEMU GUESTS_DIR SMALL_INI
"""
import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

results = []
ENV = {}


def tap(ok, name, diag=None):
    results.append((ok, name, diag))


def check(name, fn):
    try:
        problems = fn()
    except Exception as ex:  # an exception is a failed case
        problems = ["%s: %s" % (type(ex).__name__, ex)]
    tap(not problems, name, problems)


def valid_rows(out):
    n = []
    for p in glob.glob(os.path.join(out, "runs", "*.json")):
        try:
            with open(p) as f:
                if json.load(f).get("schema") == "mmuemu-report":
                    n.append(p)
        except (OSError, ValueError):
            pass
    return sorted(n)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# Fields compared between the sweep's rows and individual runs (wall time and MIPS vary).
EXACT = ["exit_status", "instructions", "cycles", "translation_cycles", "kernel_cycles", "itlb_misses",
         "dtlb_accesses", "dtlb_misses", "stlb_accesses", "stlb_misses", "walks", "walk_cycles", "page_faults"]
REAL = ["translation_share", "stlb_miss_rate", "dtlb_miss_rate", "walk_mean_cycles"]


def close(a, b):
    return abs(a - b) <= 1e-8 * max(1.0, abs(a), abs(b))


def main():
    mm, guests, spec = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    # Guests see mmuemu's environment, and its size and order change their startup by a few
    # instructions. sh adds PWD when it is missing and reorders the environment, so every command
    # here runs with the environment as sh passes it on: then the --emit-jobs lines run by sh see
    # exactly the environment the sweep's own jobs saw.
    raw = subprocess.run(["sh", "-c", "env -0"], stdout=subprocess.PIPE, check=True).stdout
    ENV.clear()
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, v = item.decode(errors="surrogateescape").split("=", 1)
            ENV[k] = v
    td = tempfile.mkdtemp(prefix="mmuemu-sweep-test-")
    try:
        run_tests(mm, guests, spec, td)
    finally:
        shutil.rmtree(td, ignore_errors=True)
    print("1..%d" % len(results))
    for i, (ok, name, diag) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
        for d in diag or []:
            for line in str(d).splitlines():
                print("# " + line)
    return 0


def sweep(mm, *args, **kw):
    return subprocess.run([mm, "sweep", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=kw.get("timeout", 900), env=ENV)


def run_tests(mm, guests, spec, td):
    out = os.path.join(td, "out")
    base = ["--guests-dir", guests, "-o", out]

    # ---- bad specs
    def bad_specs():
        cases = [
            ("[grid]\nfoo = 1\n", "unknown key 'foo'"),
            ("[gird]\ncpu = skylake\n", "unknown section [gird]"),
            ("[grid]\nset.stlb.4k2m =\n", "empty axis"),
            ("[grid]\ncpu = skylake, nosuchcpu\n", "nosuchcpu"),
            ("[grid]\nset.stlb.4k2m = 1000x12\n", "divisible"),
            ("[grid]\nset.stlb.4k2m = 64x4, 64x4\n", "given twice"),
            ("[grid]\npaging = pae\n", "needs an i386 guest"),
            ("[grid]\nset.pt.latency = 100..10+5\n", "bad range"),
            ("[grid]\nmodel = functional\ncpu = skylake\n", "functional"),
            ("[grid]\nmem = lots\n", "invalid value 'lots'"),
            ("[sweep]\noptions = --kcost nope=3\n", "unknown cost 'nope'"),
            ("[sweep]\noptions = --report x.json\n", "set by the sweep itself"),
        ]
        problems = []
        for body, want in cases:
            p = os.path.join(td, "bad.ini")
            with open(p, "w") as f:
                f.write("[guests]\nhello = hello-x86_64\n" + body)
            r = sweep(mm, "--guests-dir", guests, "-o", os.path.join(td, "bad-out"), p)
            if r.returncode != 2 or want not in r.stderr:
                problems.append("%r: exit %d, stderr %r (want 2 and %r)" % (body, r.returncode, r.stderr, want))
        with open(os.path.join(td, "bad.ini"), "w") as f:
            f.write("[guests]\nnothere = no-such-guest-binary 1\n[grid]\ncpu = skylake\n")
        r = sweep(mm, "--guests-dir", guests, "-o", os.path.join(td, "bad-out"), os.path.join(td, "bad.ini"))
        if r.returncode != 2 or "no-such-guest-binary" not in r.stderr:
            problems.append("missing guest: exit %d, %r" % (r.returncode, r.stderr))
        if os.path.exists(os.path.join(td, "bad-out", "runs")) and os.listdir(os.path.join(td, "bad-out", "runs")):
            problems.append("a bad spec ran jobs")
        with open(os.path.join(td, "bad.ini"), "w") as f:
            f.write("[guests]\nsh = /bin/sh -c true\n")
        r = sweep(mm, "-o", os.path.join(td, "bad-out"), os.path.join(td, "bad.ini"))
        if r.returncode != 2 or "dynamically linked" not in r.stderr:
            problems.append("dynamic guest: exit %d, %r" % (r.returncode, r.stderr))
        r = sweep(mm, "-j", "0", spec)
        if r.returncode != 2 or "-j" not in r.stderr:
            problems.append("-j 0: exit %d, %r" % (r.returncode, r.stderr))
        return problems
    check("bad specs and options fail with exit status 2 and a clear message, before any job", bad_specs)

    # ---- --emit-jobs
    lines = []

    def emit():
        r = sweep(mm, *base, "--emit-jobs", spec)
        if r.returncode != 0:
            return ["exit %d: %s" % (r.returncode, r.stderr)]
        lines[:] = r.stdout.splitlines()
        problems = []
        if len(lines) != 24:
            problems.append("%d lines, expected 24" % len(lines))
        for ln in lines:
            if " run " not in ln or "--report-format json --report " not in ln or " -- " not in ln:
                problems.append("not a run line: " + ln)
        if len(set(lines)) != len(lines):
            problems.append("duplicate job lines")
        sizes = {s for s in ("64x4", "128x4", "256x8", "1536x12") if any("stlb.4k2m=" + s + " " in ln for ln in lines)}
        if len(sizes) != 4:
            problems.append("STLB sizes in the jobs: %s" % sorted(sizes))
        return problems
    check("--emit-jobs prints 24 shell-quoted mmuemu run lines covering the grid", emit)

    # ---- interrupted twice, then resumed
    state = {}

    def interrupted():
        problems = []
        for sig, atleast in ((signal.SIGTERM, 4), (signal.SIGKILL, 10)):
            p = subprocess.Popen([mm, "sweep", "-j", "2", *base, spec], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=ENV)
            t0 = time.time()
            while len(valid_rows(out)) < atleast and p.poll() is None and time.time() - t0 < 600:
                time.sleep(0.01)
            if p.poll() is not None:
                return problems + ["the sweep ended (exit %d) before it could be stopped at %d rows" % (p.returncode, atleast)]
            p.send_signal(sig)
            _, err = p.communicate(timeout=120)
            n = len(valid_rows(out))
            if sig == signal.SIGTERM:
                if p.returncode != 128 + signal.SIGTERM or "resume" not in err:
                    problems.append("SIGTERM: exit %d, %r" % (p.returncode, err[-300:]))
                left = glob.glob(os.path.join(out, "runs", "*.tmp.*"))
                if left:
                    problems.append("temporary files left after SIGTERM: %s" % left)
            if not atleast <= n < 24:
                problems.append("%s: %d rows after the stop, expected at least %d and fewer than 24" % (sig.name, n, atleast))
        # Children die with a SIGKILLed sweep: no temporary report keeps growing afterwards.
        time.sleep(0.5)
        tmps = {t: os.path.getsize(t) for t in glob.glob(os.path.join(out, "runs", "*.tmp.*"))}
        time.sleep(1.0)
        for t, sz in tmps.items():
            if os.path.exists(t) and os.path.getsize(t) != sz:
                problems.append("a child of the killed sweep is still writing " + t)
        before = valid_rows(out)
        state["before"] = {p: os.stat(p).st_mtime_ns for p in before}
        r = sweep(mm, "-j", "2", *base, spec)
        if r.returncode != 0:
            return problems + ["resume: exit %d: %s" % (r.returncode, r.stderr[-500:])]
        want = "24 of 24 rows (%d run now, %d reused, 0 failed)" % (24 - len(before), len(before))
        if want not in r.stderr:
            problems.append("resume summary: want %r in %r" % (want, r.stderr[-400:]))
        for p, mt in state["before"].items():
            if os.stat(p).st_mtime_ns != mt:
                problems.append("row redone: " + p)
        if len(valid_rows(out)) != 24:
            problems.append("%d rows after resume" % len(valid_rows(out)))
        return problems
    check("a sweep stopped by SIGTERM and by SIGKILL resumes without redoing finished rows", interrupted)

    rows = []

    def tables():
        rows[:] = read_csv(os.path.join(out, "results.csv"))
        with open(os.path.join(out, "results.json")) as f:
            js = json.load(f)
        problems = []
        if len(rows) != 24 or len(js["rows"]) != 24 or js["rows_missing"] != 0:
            problems.append("csv %d rows, json %d rows, %s missing" % (len(rows), len(js["rows"]), js["rows_missing"]))
        combos = {(r["guest"], r["set.stlb.4k2m"], r["set.stlb.policy"]) for r in rows}
        if len(combos) != 24:
            problems.append("%d distinct (guest, size, policy) rows" % len(combos))
        for r, j in zip(rows, js["rows"]):
            if r["guest"] != j["guest"] or int(r["instructions"]) != j["instructions"] or int(r["cycles"]) != j["cycles"]:
                problems.append("csv and json disagree: %s %s" % (r["guest"], r["config"]))
            if r["exit_status"] != "0":
                problems.append("guest %s exited %s" % (r["guest"], r["exit_status"]))
            if not 0 < float(r["translation_share"]) < 1:
                problems.append("translation_share %s" % r["translation_share"])
        c = sweep(mm, *base, "--collect", spec)
        if c.returncode != 0 or read_csv(os.path.join(out, "results.csv")) != rows:
            problems.append("--collect: exit %d or a different table" % c.returncode)
        return problems
    check("results.csv and results.json hold the 24 rows, consistently", tables)

    def parameters_reach_runs():
        problems = []
        by = {(r["guest"], r["set.stlb.4k2m"], r["set.stlb.policy"]): r for r in rows}
        for g in ("ptrchase", "ptrchase32"):
            for pol in ("lru", "fifo"):
                small, big = int(by[(g, "64x4", pol)]["stlb_misses"]), int(by[(g, "1536x12", pol)]["stlb_misses"])
                if not small > 2 * big:
                    problems.append("%s %s: STLB misses 64x4 %d vs 1536x12 %d" % (g, pol, small, big))
        return problems
    check("a 64-entry STLB misses more than a 1536-entry one on the pointer chases", parameters_reach_runs)

    def agree_with_runs():
        problems = []
        guest_cmd = {"ptrchase": ["ptrchase-x86_64", "1M", "20000", "1"], "checksum": ["checksum-x86_64", "1"],
                     "ptrchase32": ["ptrchase-i386", "2M", "15000", "2"]}
        picks = [("ptrchase", "64x4", "fifo"), ("checksum", "256x8", "lru"), ("ptrchase32", "1536x12", "lru"),
                 ("ptrchase32", "128x4", "fifo")]
        by = {(r["guest"], r["set.stlb.4k2m"], r["set.stlb.policy"]): r for r in rows}
        for g, size, pol in picks:
            rep = os.path.join(td, "single.json")
            cmd = [mm, "run", "--mem", "256M", "--set", "stlb.4k2m=" + size, "--set", "stlb.policy=" + pol,
                   "--report-format", "json", "--report", rep, "--", os.path.join(guests, guest_cmd[g][0])] + guest_cmd[g][1:]
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600, env=ENV)
            if p.returncode != 0:
                problems.append("%s: exit %d %s" % (cmd, p.returncode, p.stderr[-300:]))
                continue
            with open(rep) as f:
                j = json.load(f)
            t = j["timing"]
            ref = {"exit_status": j["end"]["exit_status"], "instructions": j["run"]["instructions"],
                   "cycles": t["cycles"]["total"], "translation_cycles": t["cycles"]["translation"],
                   "kernel_cycles": t["cycles"]["kernel"], "itlb_misses": t["tlb"]["ITLB"]["misses"],
                   "dtlb_accesses": t["tlb"]["DTLB"]["accesses"], "dtlb_misses": t["tlb"]["DTLB"]["misses"],
                   "stlb_accesses": t["tlb"]["STLB"]["accesses"], "stlb_misses": t["tlb"]["STLB"]["misses"],
                   "walks": t["walks"]["count"], "walk_cycles": t["walks"]["cycles"],
                   "page_faults": j["page_faults"]["total"],
                   "translation_share": t["cycles"]["translation_share"],
                   "stlb_miss_rate": t["tlb"]["STLB"]["miss_rate"], "dtlb_miss_rate": t["tlb"]["DTLB"]["miss_rate"],
                   "walk_mean_cycles": t["walks"]["mean_cycles"]}
            row = by[(g, size, pol)]
            for k in EXACT:
                if int(row[k]) != ref[k]:
                    problems.append("%s %s %s: %s sweep %s, run %s" % (g, size, pol, k, row[k], ref[k]))
            for k in REAL:
                if not close(float(row[k]), ref[k]):
                    problems.append("%s %s %s: %s sweep %s, run %s" % (g, size, pol, k, row[k], ref[k]))
        return problems
    check("rows agree field by field with individual mmuemu run reports", agree_with_runs)

    def emitted_lines_run_unchanged():
        out2 = os.path.join(td, "out2")
        r = sweep(mm, "--guests-dir", guests, "-o", out2, "--emit-jobs", spec)
        jl = r.stdout.splitlines()
        problems = []
        if r.returncode != 0 or len(jl) != 24:
            return ["--emit-jobs: exit %d, %d lines" % (r.returncode, len(jl))]
        for ln in jl[:3] + jl[-1:]:
            p = subprocess.run(["sh", "-c", ln], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600, env=ENV)
            if p.returncode != 0:
                problems.append("%s: exit %d %s" % (ln, p.returncode, p.stderr[-200:]))
        pend = sweep(mm, "--guests-dir", guests, "-o", out2, "--emit-jobs", "--pending", spec).stdout.splitlines()
        if pend != jl[3:-1]:
            problems.append("--pending lists %d lines, expected the 20 not run" % len(pend))
        c = sweep(mm, "--guests-dir", guests, "-o", out2, "--collect", spec)
        if c.returncode != 1 or "20 rows missing" not in c.stderr:
            problems.append("--collect with missing rows: exit %d, %r" % (c.returncode, c.stderr[-300:]))
        got = read_csv(os.path.join(out2, "results.csv"))
        if len(got) != 4:
            problems.append("%d collected rows, expected 4" % len(got))
        by = {(r["guest"], r["config"]): r for r in rows}
        skip = {"wall_seconds", "mips", "report"}
        for g in got:
            ref = by.get((g["guest"], g["config"]))
            if ref is None:
                problems.append("unexpected row %s %s" % (g["guest"], g["config"]))
                continue
            diff = [k for k in g if k not in skip and g[k] != ref[k]]
            if diff:
                problems.append("%s %s differs in %s" % (g["guest"], g["config"], diff))
        return problems
    check("--emit-jobs lines run unchanged by sh make rows --collect tabulates identically", emitted_lines_run_unchanged)

    def plots():
        pd = os.path.join(td, "plots")
        r = sweep(mm, *base, "--collect", "--plot", pd, spec)
        if shutil.which("gnuplot") is None:
            ok = r.returncode == 1 and "gnuplot not found" in r.stderr
            return [] if ok else ["without gnuplot: exit %d %r" % (r.returncode, r.stderr)]
        problems = []
        if r.returncode != 0:
            return ["exit %d: %s" % (r.returncode, r.stderr[-500:])]
        for stem in ("overhead", "missrate"):
            svg, png = os.path.join(pd, stem + ".svg"), os.path.join(pd, stem + ".png")
            for fpath, minsize in ((svg, 4000), (png, 4000), (os.path.join(pd, stem + ".dat"), 100)):
                if not os.path.exists(fpath) or os.path.getsize(fpath) < minsize:
                    problems.append("%s missing or smaller than %d bytes" % (fpath, minsize))
            if os.path.exists(svg):
                with open(svg) as f:
                    txt = f.read()
                if "<svg" not in txt or "ptrchase32" not in txt:
                    problems.append(svg + ": not an SVG naming the guests")
                if txt.count("<path") + txt.count("<rect") + txt.count("<polyline") < 10:
                    problems.append(svg + ": hardly anything drawn")
            if os.path.exists(png):
                with open(png, "rb") as f:
                    if f.read(8) != b"\x89PNG\r\n\x1a\n":
                        problems.append(png + ": not a PNG")
        data = [ln for ln in open(os.path.join(pd, "missrate.dat")) if ln[:1].isdigit()]
        if len(data) != 24:
            problems.append("missrate.dat: %d points, expected 24 (6 series x 4 sizes)" % len(data))
        return problems
    check("--plot draws overhead and STLB miss-rate plots as SVG and PNG", plots)


if __name__ == "__main__":
    sys.exit(main())
