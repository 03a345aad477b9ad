#!/usr/bin/env python3
"""Integration tests of `mmuemu run --mrc` and `--plot` (TAP output).

equality: one `--mrc --mrc-csv` run gives, per page size, the misses of a fully associative LRU
  L1 DTLB of every size; each must equal, exactly, the DTLB misses of a separate run whose DTLB
  array for that page size is N entries fully associative LRU (`--set dtlb.4k=N,full`), at 8
  sizes, on several guests: a pointer chase (x86-64, and i386 under 2-level paging), malloc_churn
  (thousands of INVLPGs and full flushes from munmap/mprotect), and a chase on 2 MiB pages for
  the 2M curve. The lookups of the curve must equal the DTLB's lookups of that size.
plots: `--plot DIR` writes mrc, walk_latency and faults as .dat, .gp, .svg (with path elements)
  and .png (PNG signature, plausible size); the report's mrc section; clear errors (exit 2) for
  bad values, a directory that cannot be created, gnuplot missing, --mrc without timing.

Usage: test_mrc.py MMUEMU GUESTS_DIR equality|plots
"""
import concurrent.futures
import csv
import json
import os
import subprocess
import sys
import tempfile

SIZES = [1, 2, 5, 16, 48, 64, 300, 1024]
SIZES_2M = [1, 2, 3, 5, 7, 8, 16, 32]   # 8 huge pages in the working set

results = []


def check(name, ok, diag=""):
    results.append((name, bool(ok), diag))


def run(mm, args, prog, env=None):
    with tempfile.TemporaryDirectory() as td:
        rep = os.path.join(td, "r.json")
        cmd = [mm, "run", *args, "--report-format", "json", "--report", rep, "--", *prog]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if p.returncode != 0:
            raise SystemExit(f"Bail out! {' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-400:]}")
        with open(rep) as f:
            return json.load(f), p.stdout


def read_curve(path):
    curve = {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        curve.setdefault(r["page_size"], {})[int(r["entries"])] = int(r["misses"])
    return curve


def equality(mm, guests):
    cases = [
        ("ptrchase x86-64 2 MiB", [], ["ptrchase-x86_64", "2M", "60000", "3"], "4K", "4k"),
        ("ptrchase i386 2-level 1 MiB", [], ["ptrchase-i386", "1M", "40000", "5"], "4K", "4k"),
        ("malloc_churn x86-64", [], ["malloc_churn-x86_64", "2500", "2"], "4K", "4k"),
        ("ptrchase on 2 MiB pages", ["--hugepages", "2m"], ["ptrchase-x86_64", "16M", "20000", "9"], "2M", "2m"),
    ]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    for name, extra, prog, size, key in cases:
        prog = [os.path.join(guests, prog[0]), *prog[1:]]
        with tempfile.TemporaryDirectory() as td:
            csvp = os.path.join(td, "c.csv")
            rep, out0 = run(mm, [*extra, "--mrc", "--mrc-max", "1024", "--mrc-csv", csvp], prog)
            curve = read_curve(csvp)
        check(f"{name}: the --mrc run has a {size} curve", size in curve and len(curve[size]) == 1024,
              f"sizes {sorted(curve)}")
        if size not in curve:
            continue
        m = rep["mrc"]["by_page_size"][size]
        pts = {p["entries"]: p["misses"] for p in m["points"]}
        check(f"{name}: report points agree with the CSV", all(curve[size][n] == v for n, v in pts.items()),
              str(pts))
        mono = all(curve[size][n] >= curve[size][n + 1] for n in range(1, 1024))
        check(f"{name}: misses never rise with more entries", mono)
        check(f"{name}: the curve is not flat (small TLBs miss more)", curve[size][1] > curve[size][1024])
        sizes = SIZES_2M if size == "2M" else SIZES
        futs = [pool.submit(run, mm, [*extra, "--set", f"dtlb.{key}={n},full", "--set", f"dtlb.{key}.policy=lru"], prog)
                for n in sizes]
        for n, fut in zip(sizes, futs):
            sep, out = fut.result()
            d = sep["timing"]["tlb"]["DTLB"]["by_page_size"][size]
            got = curve[size][n]
            check(f"{name}: {size} N={n}: curve {got} == separate FA-LRU run {d['misses']}", got == d["misses"])
            check(f"{name}: {size} N={n}: lookups {m['lookups']} == DTLB {size} lookups {d['hits'] + d['misses']}",
                  m["lookups"] == d["hits"] + d["misses"])
            check(f"{name}: N={n}: guest output unchanged", out == out0)


def is_png(path):
    with open(path, "rb") as f:
        head = f.read(8)
    return head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 2000


def svg_ok(path):
    with open(path, errors="replace") as f:
        s = f.read()
    return "<svg" in s and s.count("<path") >= 5 and os.path.getsize(path) > 2000


def plots(mm, guests):
    chase = [os.path.join(guests, "ptrchase-x86_64"), "2M", "30000", "1"]
    with tempfile.TemporaryDirectory() as td:
        d = os.path.join(td, "nested", "plots")
        rep, _ = run(mm, ["--plot", d, "--mrc-max", "2048"], chase)
        for stem in ("mrc", "walk_latency", "faults"):
            for ext in ("dat", "gp", "svg", "png"):
                p = os.path.join(d, f"{stem}.{ext}")
                check(f"plot {stem}.{ext} exists", os.path.exists(p))
            if os.path.exists(os.path.join(d, f"{stem}.svg")):
                check(f"{stem}.svg is an SVG with path elements", svg_ok(os.path.join(d, f"{stem}.svg")))
            if os.path.exists(os.path.join(d, f"{stem}.png")):
                check(f"{stem}.png has the PNG signature and a plausible size", is_png(os.path.join(d, f"{stem}.png")))
        check("--plot implies --mrc (the report has the curve)", rep.get("mrc") is not None)
        rows = [l.split() for l in open(os.path.join(d, "mrc.dat")) if l.strip() and not l.startswith("#")]
        check("mrc.dat has one row per size 1..2048", len(rows) == 2048 and rows[-1][0] == "2048", str(len(rows)))
        misses1 = int(rows[0][1])
        check("mrc.dat agrees with the report", rep["mrc"]["by_page_size"]["4K"]["points"][0]["misses"] == misses1)
        hist = [l.split() for l in open(os.path.join(d, "walk_latency.dat")) if not l.startswith("#")]
        total = sum(int(h[3]) for h in hist)
        check("walk_latency.dat sums to the report's walks", total == rep["timing"]["walks"]["count"],
              f"{total} vs {rep['timing']['walks']['count']}")
        fl = [l.split() for l in open(os.path.join(d, "faults.dat")) if not l.startswith("#")]
        check("faults.dat has many samples", len(fl) >= 50, str(len(fl)))
        ins = [int(r[0]) for r in fl]
        fa = [int(r[1]) for r in fl]
        check("faults.dat: instructions and faults never decrease", ins == sorted(ins) and fa == sorted(fa))
        check("faults.dat ends at the run's totals",
              ins[-1] == rep["run"]["instructions"] and fa[-1] == rep["page_faults"]["total"],
              f"{ins[-1]} {fa[-1]}")
        # Redrawing from the written scripts works on its own.
        os.remove(os.path.join(d, "mrc.svg"))
        p = subprocess.run(["gnuplot", "mrc.gp"], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check("gnuplot mrc.gp in DIR redraws the picture", p.returncode == 0 and svg_ok(os.path.join(d, "mrc.svg")),
              p.stderr.decode()[-200:])

        # Functional model: only the faults plot.
        f = os.path.join(td, "func")
        run(mm, ["--model", "functional", "--plot", f], chase)
        check("functional --plot draws faults", is_png(os.path.join(f, "faults.png")))
        check("functional --plot has no mrc or walk plot",
              not os.path.exists(os.path.join(f, "mrc.svg")) and not os.path.exists(os.path.join(f, "walk_latency.svg")))

        # The text report's section.
        p = subprocess.run([mm, "run", "--mrc", "--", *chase], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode()
        check("text report has the miss-rate curve with the configured size",
              p.returncode == 0 and "miss-rate curve DTLB" in err and "(configured size)" in err)

        # Errors.
        def fails(args, code, words, env=None):
            p = subprocess.run([mm, "run", *args, "--", *chase], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            e = p.stderr.decode()
            check(f"{' '.join(args)}: exit {code} with a message ({words})", p.returncode == code and words in e,
                  f"exit {p.returncode}: {e[-200:]}")
        blocker = os.path.join(td, "file")
        open(blocker, "w").close()
        fails(["--plot", os.path.join(blocker, "sub")], 2, "cannot create the directory")
        env = dict(os.environ, PATH=os.path.join(td, "empty-path"))
        fails(["--plot", os.path.join(td, "p2")], 2, "gnuplot not found", env)
        fails(["--mrc-max", "0"], 2, "--mrc-max")
        fails(["--mrc-max", "12x"], 2, "--mrc-max")
        fails(["--mrc-max", str(1 << 21)], 2, "--mrc-max")
        fails(["--model", "functional", "--mrc"], 2, "timing model")
        fails(["--model", "functional", "--no-icount", "--plot", os.path.join(td, "p3")], 2, "--no-icount")
        fails(["--mrc-csv", os.path.join(blocker, "x.csv")], 1, "--mrc-csv")


def main():
    mm, guests, what = sys.argv[1], sys.argv[2], sys.argv[3]
    if what == "equality":
        equality(mm, guests)
    else:
        plots(mm, guests)
    print(f"1..{len(results)}")
    for i, (name, ok, diag) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok and diag:
            print(f"# {diag}")


if __name__ == "__main__":
    main()
