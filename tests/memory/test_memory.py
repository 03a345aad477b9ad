#!/usr/bin/env python3
"""Memory-manager behaviour of whole guest runs (TAP output):

  - zones: an i386 guest under --mem 2G takes its user pages from HighMem and the kernel maps
    them with kmap_local (one INVLPG per unmap, visible in the TLB model's flush count); under
    --mem 512M there is no HighMem and no kmap; an x86-64 guest under 4 GiB has an empty Normal
    zone and allocates from DMA32, and under 6 GiB from Normal first;
  - --highpte maps HighMem page-table pages while faults edit them;
  - a guest that allocates more than --mem is killed by the modelled OOM killer: exit status
    137, Linux's "Out of memory: Killed process" line, a complete report, intact invariants;
  - --proc prints /proc files whose lines have the shapes of the host's own files.

Every run uses --self-check, so the model's invariants are checked after each one.

Usage: test_memory.py MMUEMU GUESTS_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

results = []


def tap(ok, name, diag=None):
    results.append((ok, name, diag))


def run(mm, args, prog, pargs=(), expect_status=0):
    with tempfile.TemporaryDirectory() as td:
        rep = os.path.join(td, "r.json")
        cmd = [mm, "run", "--self-check", *args, "--report-format", "json", "--report", rep, "--", prog, *pargs]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        if p.returncode != expect_status:
            raise RuntimeError("%s: exit status %d (expected %d): %s" %
                               (" ".join(cmd), p.returncode, expect_status, p.stderr.decode()[-400:]))
        with open(rep) as f:
            return json.load(f), p.stdout.decode(), p.stderr.decode()


def zones(rep):
    return {z["name"]: z for z in rep["memory"]["zones"]}


def check(name, fn):
    try:
        problems = fn()
    except Exception as ex:  # a failed run is a failed case
        problems = [str(ex)]
    tap(not problems, name, problems)


def main():
    mm, guests = sys.argv[1], sys.argv[2]
    churn32 = os.path.join(guests, "malloc_churn-i386")
    churn64 = os.path.join(guests, "malloc_churn-x86_64")
    cs64 = os.path.join(guests, "checksum-x86_64")
    cs32 = os.path.join(guests, "checksum-i386")

    def i386_2g():
        rep, _, _ = run(mm, ["--mem", "2G"], churn32)
        z, k, p = zones(rep), rep["kernel_model"], []
        if "HighMem" not in z or z["HighMem"]["present_pages"] == 0:
            p.append("no HighMem zone under --mem 2G")
        elif z["HighMem"]["allocated_pages"] <= z["Normal"]["allocated_pages"]:
            p.append("user pages should come from HighMem first: HighMem %d, Normal %d" %
                     (z["HighMem"]["allocated_pages"], z["Normal"]["allocated_pages"]))
        if k["kmap_local"] == 0 or k["highmem_zeroed"] == 0:
            p.append("no kmap activity: kmap_local %d, highmem_zeroed %d" % (k["kmap_local"], k["highmem_zeroed"]))
        if k["kunmap_local_invlpg"] != k["kmap_local"]:
            p.append("every kmap_local must be unmapped with one INVLPG (%d maps, %d unmaps)" %
                     (k["kmap_local"], k["kunmap_local_invlpg"]))
        inv = rep["timing"]["flushes"]["invlpg"]["count"]
        if inv < k["kunmap_local_invlpg"]:
            p.append("the TLB model saw %d INVLPGs, fewer than the %d kunmap_local" % (inv, k["kunmap_local_invlpg"]))
        return p
    check("i386 --mem 2G: user pages from HighMem, kmap_local with one INVLPG per unmap", i386_2g)

    def i386_512m():
        rep, _, _ = run(mm, ["--mem", "512M"], churn32)
        z, k, p = zones(rep), rep["kernel_model"], []
        if "HighMem" in z and z["HighMem"]["present_pages"]:
            p.append("HighMem present under --mem 512M")
        if z["Normal"]["allocated_pages"] == 0:
            p.append("nothing allocated from Normal")
        if k["kmap_local"] or k["pkmap_maps"] or k["highmem_zeroed"]:
            p.append("kmap activity without HighMem: %r" % {x: k[x] for x in ("kmap_local", "pkmap_maps")})
        return p
    check("i386 --mem 512M: no HighMem zone, no kmap", i386_512m)

    def i386_highpte():
        rep, _, _ = run(mm, ["--mem", "2G", "--highpte"], churn32)
        k = rep["kernel_model"]
        return [] if k["highpte_maps"] > 0 else ["--highpte: no page-table page was kmapped"]
    check("i386 --highpte: faults kmap HighMem page tables", i386_highpte)

    def x64_4g():
        rep, _, _ = run(mm, [], churn64)
        z, k, p = zones(rep), rep["kernel_model"], []
        if "Normal" in z and z["Normal"]["present_pages"]:
            p.append("Normal zone not empty under 4 GiB")
        if z["DMA32"]["allocated_pages"] == 0:
            p.append("nothing allocated from DMA32")
        if k["kmap_local"]:
            p.append("x86-64 has no kmap")
        return p
    check("x86-64 4 GiB: empty Normal zone, allocations from DMA32", x64_4g)

    def x64_6g():
        rep, _, _ = run(mm, ["--mem", "6G"], churn64)
        z, p = zones(rep), []
        if z["Normal"]["allocated_pages"] == 0 or z["DMA32"]["allocated_pages"] != 0:
            p.append("6 GiB: expected Normal first (Normal %d, DMA32 %d)" %
                     (z["Normal"]["allocated_pages"], z["DMA32"]["allocated_pages"]))
        return p
    check("x86-64 6 GiB: Normal is tried first", x64_6g)

    oom_re = re.compile(r"Out of memory: Killed process \d+ \((\S+)\) total-vm:(\d+)kB, anon-rss:(\d+)kB, "
                        r"file-rss:(\d+)kB, shmem-rss:0kB, UID:0 pgtables:(\d+)kB oom_score_adj:0")

    def oom(prog, extra):
        def f():
            rep, _, err = run(mm, ["--mem", "128M", "--model", "functional", *extra], prog, ["256"], expect_status=137)
            p = []
            m = oom_re.search(err)
            if not m:
                p.append("no OOM-killer line on stderr: %r" % err[-300:])
            else:
                if m.group(1) != os.path.basename(prog)[:15]:
                    p.append("OOM line names %s" % m.group(1))
                anon = int(m.group(3))
                if not 64 * 1024 < anon <= 128 * 1024:
                    p.append("anon-rss %d kB not between 64 and 128 MiB" % anon)
            if rep["end"]["signal"] not in (9, "SIGKILL") or rep["kernel_model"]["oom_kills"] != 1:
                p.append("report: signal %r, oom_kills %r" % (rep["end"]["signal"], rep["kernel_model"]["oom_kills"]))
            if rep["page_faults"]["by_kind"]["OOM"] != 1:
                p.append("report: OOM faults %r" % rep["page_faults"]["by_kind"]["OOM"])
            return p
        return f
    check("x86-64 guest allocating 256 MiB under --mem 128M: OOM kill, exit 137", oom(cs64, []))
    check("i386 guest allocating 256 MiB under --mem 128M: OOM kill, exit 137", oom(cs32, []))
    check("i386 PAE guest allocating 256 MiB under --mem 128M: OOM kill, exit 137", oom(cs32, ["--paging", "pae"]))

    print("TAP version 13")
    print("1..%d" % len(results))
    failed = 0
    for i, (ok, name, diag) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
        if not ok:
            failed += 1
            for d in diag or []:
                print("  # " + d.replace("\n", "\n  # "))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
