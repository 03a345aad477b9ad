#!/usr/bin/env python3
"""Traces (`mmuemu run --trace`, `mmuemu trace dump|stats|top`), TAP output:

  - round trip: for each guest of the suite (x86-64 and i386), the totals `trace stats` recomputes
    from a full trace equal the live report's, field by field (TLB accesses/hits/misses per level,
    by access kind and page size; walks, walk cycles, memory references; flushes; page faults by
    kind);
  - the dump of guests/tracepat matches tests/trace/tracepat.expected (reasoned line by line
    there), and its physical addresses are consistent: each walk read lies in the table the
    previous entry points to, the lookup's physical address is the walk's;
  - CSV and JSON Lines dumps hold the same records; reader-side filters select the same records
    as recording-side ones;
  - --trace-events, --trace-range, --trace-from/--trace-to and --trace-sample limit what is
    recorded exactly as documented;
  - two recordings of one run are the same file (the writer's threads do not show);
  - `trace top` attributes every walk cycle to some PC and some page;
  - truncated and corrupted traces are rejected (exit status 1) with a message naming the
    problem and the byte offset, never a crash; bad options exit with status 2.

Usage: test_trace.py MMUEMU GUESTS_DIR EXPECTED_FILE
"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

results = []


def tap(ok, name, diag=None):
    results.append((bool(ok), name, diag))


def sh(cmd, timeout=300):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


MM = GUESTS = EXPECTED = TMP = None


def guest(name):
    return os.path.join(GUESTS, name)


def record(prog, pargs=(), trace_args=(), run_args=(), name="t.trc", status=0):
    """Runs prog with --trace; returns (trace path, report dict)."""
    trc = os.path.join(TMP, name)
    rep = os.path.join(TMP, name + ".json")
    cmd = [MM, "run", "--trace", trc, *trace_args, *run_args, "--report-format", "json", "--report", rep,
           "--", prog, *pargs]
    rc, out, err = sh(cmd)
    if rc != status:
        raise RuntimeError("%s: exit status %d: %s" % (" ".join(cmd), rc, err[-500:]))
    with open(rep) as f:
        return trc, json.load(f)


def trace(*args):
    return sh([MM, "trace", *args])


def compare(stats, report, path=""):
    """Every leaf of stats must equal the same path in report. Returns (fields, differences)."""
    n, diffs = 0, []
    for k, v in stats.items():
        p = path + "." + k if path else k
        if not isinstance(report, dict) or k not in report:
            diffs.append("%s: not in the report" % p)
            continue
        if isinstance(v, dict):
            m, d = compare(v, report[k], p)
            n += m
            diffs += d
        else:
            n += 1
            if v != report[k]:
                diffs.append("%s: trace %r, report %r" % (p, v, report[k]))
    return n, diffs


# ---- round trip ---------------------------------------------------------------------------------

ROUND_TRIP = [
    ("hello", []), ("checksum", ["1", "64"]), ("ptrchase", ["256K", "30000", "7"]),
    ("malloc_churn", ["3000", "7", "256"]), ("mmap_test", ["4"]), ("efault", []),
    ("fileio", ["2000"]), ("stackgrow", []), ("sysquery", []), ("wildptr", []),
]


def test_round_trip():
    for name, pargs in ROUND_TRIP:
        for arch in ("x86_64", "i386"):
            prog = guest("%s-%s" % (name, arch))
            if not os.path.exists(prog):
                tap(arch != "x86_64", "round trip %s-%s (binary missing: skipped)" % (name, arch))
                continue
            try:
                trc, rep = record(prog, pargs, status=139 if name == "wildptr" else 0)
            except Exception as ex:   # noqa: BLE001 - reported as a failure
                tap(False, "round trip %s-%s" % (name, arch), str(ex))
                continue
            rc, out, err = trace("stats", "--format", "json", trc)
            if rc != 0:
                tap(False, "round trip %s-%s" % (name, arch), err)
                continue
            st = json.loads(out)
            n1, d1 = compare(st["timing"], rep["timing"], "timing")
            n2, d2 = compare(st["page_faults"], rep["page_faults"], "page_faults")
            lookups = st["timing"]["tlb"]["DTLB"]["accesses"]
            tap(not d1 and not d2 and n1 + n2 > 60 and lookups > 0 and not st["filtered"],
                "round trip %s-%s: %d totals equal the live report's" % (name, arch, n1 + n2),
                "; ".join((d1 + d2)[:10]))
    # TLB hierarchies with quirks (no STLB and a unified L1; a data-only STLB; 1 GiB pages
    # kept as 2 MiB in the STLB), PAE, huge pages.
    for label, prog, run_args in [
        ("i486", "hello-i386", ["--cpu", "i486"]),
        ("core2 pae", "mmap_test-i386", ["--cpu", "core2", "--paging", "pae"]),
        ("zen2 1g pages", "mmap_test-x86_64", ["--cpu", "zen2", "--hugepages", "1g"]),
        ("haswell 2m pages 5level", "mmap_test-x86_64", ["--cpu", "haswell", "--hugepages", "2m", "--paging", "5level"]),
    ]:
        try:
            trc, rep = record(guest(prog), ["4"] if "mmap_test" in prog else [], run_args=run_args)
            rc, out, err = trace("stats", "--format", "json", trc)
            st = json.loads(out)
            n1, d1 = compare(st["timing"], rep["timing"], "timing")
            n2, d2 = compare(st["page_faults"], rep["page_faults"], "page_faults")
            tap(rc == 0 and not d1 and not d2 and n1 + n2 > 60,
                "round trip %s (%s): %d totals equal the live report's" % (prog, label, n1 + n2), "; ".join((d1 + d2)[:10]))
        except Exception as ex:   # noqa: BLE001
            tap(False, "round trip %s (%s)" % (prog, label), repr(ex))


def test_determinism():
    """The writer's two threads hand buffers over whenever they are full; the file must not
    depend on that timing: two recordings of the same run are the same bytes. Both ways of
    writing: every lookup (encoded on the guest thread, blocks compressed on the other) and
    walks and faults (events staged, encoded and compressed on the other thread); each run spans
    many blocks and staging buffers."""
    import hashlib
    for label, pargs, targs in [("all events", ["1M", "200000", "3"], []),
                                ("walks and faults", ["16M", "100000", "3"], ["--trace-events", "walk,fault"])]:
        digests = []
        for i in range(2):
            trc, rep = record(guest("ptrchase-x86_64"), pargs, trace_args=targs, name="det.trc")
            with open(trc, "rb") as f:
                data = f.read()
            blocks = int.from_bytes(data[-12:-4], "little")   # the trailer's block count
            records = int.from_bytes(data[-20:-12], "little")
            digests.append((hashlib.sha256(data).hexdigest(), len(data), blocks, records))
        tap(digests[0] == digests[1] and digests[0][2] >= 8,
            "%s: two recordings of one run are the same file (%d bytes, %d blocks, %d records)"
            % (label, digests[0][1], digests[0][2], digests[0][3]), repr(digests))


# ---- tracepat: the hand-checked dump ---------------------------------------------------------

TRACEPAT_ARGS = ["--trace-events", "miss,walk,fault,flush", "--trace-range", "0x10000000+0x4000"]


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    head = rows[0]
    out = []
    for r in rows[1:]:
        d = dict(zip(head, r))
        det = {}
        for kv in d["detail"].split(" "):
            if "=" in kv:
                k, v = kv.split("=", 1)
                det[k] = v
        d["d"] = det
        out.append(d)
    return head, out


def project(r):
    d = r["d"]
    if r["kind"] == "fault":
        return "fault %s kind=%s ec=%s frames=%s" % (r["va"], d["fault_kind"], d["error_code"], d["frames"])
    if r["kind"] == "flush":
        return "flush %s %s entries=%s" % (r["va"], d["flush_kind"], d["entries"])
    if r["kind"] == "walk":
        idx = ",".join(str((int(x.split("@")[1].split("=")[0], 16) & 0xfff) // 8) for x in d["reads"].split("|"))
        return "walk %s acc=%s levels=%s timed=%s pwc=%s idx=%s" % (r["va"], d["acc"], d["levels"], d["timed_reads"],
                                                                  d["pwc_hit_level"], idx)
    if r["kind"] == "lookup":
        return "lookup %s acc=%s outcome=%s" % (r["va"], d["acc"], d["outcome"])
    return "%s %s" % (r["kind"], r["va"])


def test_tracepat():
    prog = guest("tracepat-x86_64")
    trc, rep = record(prog, trace_args=TRACEPAT_ARGS, run_args=["--cpu", "skylake"], name="tp.trc")
    rc, out, err = trace("dump", trc)
    tap(rc == 0, "dump of tracepat succeeds", err)
    head, rows = parse_csv(out)
    tap(head == ["kind", "insn", "cycle", "pc", "pcid", "va", "pa", "page_size", "detail"], "CSV columns", str(head))
    got = [project(r) for r in rows]
    with open(EXPECTED) as f:
        want = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    tap(got == want, "tracepat dump matches tracepat.expected (%d lines)" % len(want),
        "\n".join("got:  " + g for g in got) + "\n" + "\n".join("want: " + w for w in want))
    # Structure: entries chain, lookups translate to the walked page, records are in program
    # order (instruction count and cycle never go back) and carry the guest's PCs.
    ok, why = True, []
    last_walk = None
    prev_insn = prev_cycle = 0
    for r in rows:
        insn, cycle, pc = int(r["insn"]), int(r["cycle"]), int(r["pc"], 16)
        if insn < prev_insn or cycle < prev_cycle:
            ok, why = False, why + ["time goes back at %s" % project(r)]
        prev_insn, prev_cycle = insn, cycle
        if not 0x400000 <= pc < 0x600000:
            ok, why = False, why + ["pc %#x outside the program" % pc]
        if r["kind"] == "walk":
            reads = [x.split("@")[1].split("=") for x in r["d"]["reads"].split("|")]
            reads = [(int(a, 16), int(e, 16)) for a, e in reads]
            for (a, e), (a2, _) in zip(reads, reads[1:]):
                if (e & 0x000ffffffffff000) != (a2 & ~0xfff):
                    ok, why = False, why + ["walk %s: read at %#x not in the table %#x points to" % (r["va"], a2, e)]
            leaf = reads[-1][1]
            if (leaf & 0x000ffffffffff000) != int(r["pa"], 16) & ~0xfff:
                ok, why = False, why + ["walk %s: pa is not the leaf's frame" % r["va"]]
            if r["d"]["acc"] == "write" and not leaf & 2:
                ok, why = False, why + ["walk %s: a write walked a read-only leaf" % r["va"]]
            last_walk = r
        if r["kind"] == "lookup":
            if not last_walk or last_walk["pa"] != r["pa"] or last_walk["va"] != r["va"] or r["page_size"] != "4096":
                ok, why = False, why + ["lookup %s: not the translation of the walk before it" % r["va"]]
    tap(ok and rows, "tracepat dump: walks chain through the page tables, lookups use the walked page, "
        "time and PCs are sane", "; ".join(why[:6]))
    # The zero page is shared: the read of page 2 and the later write map different frames.
    pas = {project(r): r["pa"] for r in rows if r["kind"] == "lookup"}
    tap(pas.get("lookup 0x10002000 acc=read outcome=walk") != pas.get("lookup 0x10002000 acc=write outcome=walk"),
        "copy-on-write of the zero page maps a new frame")
    # JSON Lines: the same records.
    rc, out, err = trace("dump", "--format", "jsonl", trc)
    js = [json.loads(l) for l in out.splitlines()]
    same = rc == 0 and len(js) == len(rows) and all(
        j["kind"] == r["kind"] and j.get("va", "") == r["va"] and j.get("pa", "") == r["pa"] and
        str(j["insn"]) == r["insn"] and j["pc"] == r["pc"] for j, r in zip(js, rows))
    tap(same, "JSON Lines dump holds the same records as the CSV dump", err)
    walk = next(j for j in js if j["kind"] == "walk")
    tap(len(walk["reads"]) == 4 and [x["level"] for x in walk["reads"]] == [3, 2, 1, 0],
        "JSON walk records list each entry read, top level first", json.dumps(walk)[:300])
    # Reader-side filters.
    rc, out, err = trace("dump", "--trace-events", "fault", trc)
    _, faults = parse_csv(out)
    tap(rc == 0 and [project(r) for r in faults] == [w for w in want if w.startswith("fault")],
        "dump --trace-events fault selects exactly the fault records", err)
    rc, out, err = trace("dump", "--trace-range", "0x10002000-0x10003000", trc)
    _, sub = parse_csv(out)
    tap(rc == 0 and [project(r) for r in sub] == [w for w in want if " 0x10002000 " in w + " "],
        "dump --trace-range selects exactly page 2's records", err)


# ---- recording-side filters ----------------------------------------------------------------------


def kinds_of(trc):
    rc, out, err = trace("stats", "--format", "json", trc)
    if rc:
        raise RuntimeError(err)
    return json.loads(out)


def dump_rows(trc, *args):
    rc, out, err = trace("dump", *args, trc)
    if rc:
        raise RuntimeError(err)
    return parse_csv(out)[1]


def test_filters():
    prog = guest("ptrchase-x86_64")
    pargs = ["256K", "20000", "3"]
    full, rep = record(prog, pargs, name="full.trc")
    fs = kinds_of(full)
    nlook = fs["records_by_kind"]["lookup"]
    wf, _ = record(prog, pargs, trace_args=["--trace-events", "walk,fault"], name="wf.trc")
    s = kinds_of(wf)
    rk = s["records_by_kind"]
    tap(rk["lookup"] == 0 and rk["flush"] == 0 and rk["kernel"] == 0 and rk["syscall"] == 0 and
        rk["walk"] == fs["records_by_kind"]["walk"] and rk["fault"] == fs["records_by_kind"]["fault"] and s["filtered"],
        "--trace-events walk,fault records all walks and faults and nothing else", json.dumps(rk))
    tap(s["timing"]["walks"] == fs["timing"]["walks"] and s["page_faults"] == fs["page_faults"],
        "walk and fault totals of a walks+faults trace equal the full trace's")
    ms, _ = record(prog, pargs, trace_args=["--trace-events", "miss"], name="miss.trc")
    rows = dump_rows(ms)
    tap(rows and all(r["kind"] == "lookup" and r["d"]["outcome"] != "l1_hit" for r in rows) and
        len(rows) == fs["timing"]["tlb"]["DTLB"]["misses"] + fs["timing"]["tlb"]["ITLB"]["misses"],
        "--trace-events miss records exactly the L1 misses (%d)" % len(rows))
    n = 7
    sm, _ = record(prog, pargs, trace_args=["--trace-events", "lookup", "--trace-sample", str(n)], name="s.trc")
    got = kinds_of(sm)["records_by_kind"]["lookup"]
    tap(got == (nlook + n - 1) // n, "--trace-sample %d keeps one lookup in %d (%d of %d)" % (n, n, got, nlook))
    lo, hi = 200000, 260000
    wn, _ = record(prog, pargs, trace_args=["--trace-from", str(lo), "--trace-to", str(hi)], name="w.trc")
    rows = dump_rows(wn)
    tap(rows and all(lo <= int(r["insn"]) < hi for r in rows) and
        len(rows) < fs["records"], "--trace-from/--trace-to keep records of the instruction window only (%d)" % len(rows))
    rows_full = dump_rows(full, "--trace-from", str(lo), "--trace-to", str(hi))
    tap(len(rows_full) == len(rows), "the reader's instruction window selects the same records as the writer's",
        "%d vs %d" % (len(rows_full), len(rows)))
    rg, _ = record(prog, pargs, trace_args=["--trace-range", "0x400000-0x500000"], name="r.trc")
    rows = dump_rows(rg)
    with_va = [r for r in rows if r["va"] and r["kind"] in ("lookup", "walk", "fault", "flush")]
    tap(with_va and all(0x400000 <= int(r["va"], 16) < 0x500000 for r in with_va),
        "--trace-range keeps only records of addresses in the range (%d)" % len(with_va))
    # top: every walk cycle is attributed to some PC and some page.
    rc, out, err = trace("top", "-n", "1000000", full)
    tables = out.split("\n\n")
    sums = []
    for t in tables:
        lines = [l.split() for l in t.strip().splitlines()[1:]]
        sums.append(sum(int(l[3]) for l in lines))
    wc = fs["timing"]["walks"]["cycles"]
    tap(rc == 0 and len(tables) == 2 and sums == [wc, wc], "trace top attributes all %d walk cycles to PCs and to pages" % wc,
        "%r %s" % (sums, err))
    rc, out, err = trace("top", full)
    first = out.splitlines()[1].split() if rc == 0 else []
    tap(rc == 0 and len(out.split("\n\n")[0].strip().splitlines()) == 11 and first and
        int(first[0], 16) >= 0x400000, "trace top lists 10 guest PCs by default, in the program's text", out[:300])


# ---- damaged traces and bad options ------------------------------------------------------------


def test_damage():
    prog = guest("ptrchase-x86_64")
    good, _ = record(prog, ["256K", "20000", "3"], name="good.trc")
    data = open(good, "rb").read()
    hlen = int.from_bytes(data[12:16], "little")
    first_block = 16 + hlen + 4
    blen = int.from_bytes(data[first_block + 8:first_block + 12], "little")
    second_block = first_block + 20 + blen
    tap(len(data) > second_block + 100, "the test trace has several blocks (%d bytes)" % len(data))
    cases = [
        ("truncated in the header", data[:10], "truncated"),
        ("truncated in the header text", data[:40], "truncated"),
        ("truncated inside the first block", data[:first_block + 100], "truncated"),
        ("truncated at a block boundary", data[:second_block], "truncated"),
        ("truncated in the end marker", data[:-5], "truncated"),
        ("without the end marker", data[:-28], "truncated"),
        ("empty", b"", "not an mmuemu trace"),
        ("bad magic", b"X" + data[1:], "not an mmuemu trace"),
        ("other version", data[:8] + b"\x09\x00\x00\x00" + data[12:], "version"),
        ("corrupt header text", data[:20] + bytes([data[20] ^ 0x20]) + data[21:], "corrupt"),
        ("corrupt block header", data[:first_block + 5] + bytes([data[first_block + 5] ^ 1]) + data[first_block + 6:],
         "corrupt"),
        ("corrupt compressed data", data[:first_block + 20 + blen // 2] + bytes([data[first_block + 20 + blen // 2] ^ 0x55]) +
         data[first_block + 20 + blen // 2 + 1:], "corrupt"),
        ("garbage between blocks", data[:second_block] + b"JUNKJUNK" + data[second_block:], "corrupt"),
        ("data after the end marker", data + b"\x00", "after the end marker"),
    ]
    for name, blob, word in cases:
        p = os.path.join(TMP, "bad.trc")
        with open(p, "wb") as f:
            f.write(blob)
        for sub in (["stats"], ["dump"], ["top"]):
            rc, out, err = trace(*sub, p)
            tap(rc == 1 and word in err and ("offset" in err or word == "version"),
                "%s trace: 'trace %s' exits 1 naming it (%s)" % (name, sub[0], err.strip()[:160]), err[-300:])
    # A dump of a truncated trace writes the complete blocks' records before the error.
    p = os.path.join(TMP, "bad.trc")
    with open(p, "wb") as f:
        f.write(data[:second_block])
    rc, out, err = trace("dump", p)
    tap(rc == 1 and len(out.splitlines()) > 1000, "a truncated trace's complete blocks are still dumped")


def test_usage():
    hello = guest("hello-x86_64")
    t = os.path.join(TMP, "u.trc")
    bad = [
        (["run", "--trace", t, "--trace-events", "bogus", "--", hello], "unknown event kind"),
        (["run", "--trace", t, "--trace-range", "0x5000-0x3000", "--", hello], "above the start"),
        (["run", "--trace", t, "--trace-range", "zzz", "--", hello], "invalid range"),
        (["run", "--trace", t, "--trace-sample", "0", "--", hello], "--trace-sample"),
        (["run", "--trace", t, "--trace-from", "10", "--trace-to", "5", "--", hello], "--trace-to"),
        (["run", "--trace-events", "walk", "--", hello], "need --trace"),
        (["run", "--model", "functional", "--trace", t, "--", hello], "functional"),
        (["trace"], "Usage"),
        (["trace", "bogus", t], "unknown subcommand"),
        (["trace", "dump"], "no trace file"),
        (["trace", "dump", "--format", "xml", t], "csv or jsonl"),
        (["trace", "stats", "--trace-events", "walk", t], "no filters"),
        (["trace", "top", "-n", "0", t], "positive"),
    ]
    for args, word in bad:
        rc, out, err = sh([MM, *args])
        tap(rc == 2 and word in err + out, "usage error exits 2: mmuemu %s" % " ".join(a.replace(TMP, "T") for a in args),
            err[-300:])
    rc, out, err = sh([MM, "run", "--trace", "/nonexistent-dir/x.trc", "--", hello])
    tap(rc == 1 and "nonexistent-dir" in err, "an unwritable trace path is reported (exit 1)", err)
    if os.path.exists("/dev/full"):
        for ev in ("all", "walk,fault"):
            rc, out, err = sh([MM, "run", "--no-report", "--trace", "/dev/full", "--trace-events", ev, "--",
                               guest("ptrchase-x86_64"), "16M", "20000", "3"])
            tap(rc == 1 and "No space left" in err and "/dev/full" in err and "warning" in err
                and err.index("warning") < err.index("/dev/full"),
                "a trace that cannot be written (a full disk, --trace-events %s) is warned of during the run "
                "and reported (exit 1)" % ev, err[-300:])
    rc, out, err = sh([MM, "trace", "stats", os.path.join(TMP, "missing.trc")])
    tap(rc == 1 and "No such file" in err, "a missing trace file is reported (exit 1)", err)


def main():
    global MM, GUESTS, EXPECTED, TMP
    if len(sys.argv) != 4:
        print("usage: test_trace.py MMUEMU GUESTS_DIR EXPECTED_FILE", file=sys.stderr)
        return 2
    MM, GUESTS, EXPECTED = sys.argv[1:]
    with tempfile.TemporaryDirectory() as td:
        TMP = td
        for t in (test_tracepat, test_filters, test_damage, test_usage, test_determinism, test_round_trip):
            try:
                t()
            except Exception as ex:   # noqa: BLE001 - a crash of one group is one failure
                tap(False, t.__name__, repr(ex))
    print("1..%d" % len(results))
    for i, (ok, name, diag) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name.replace("\n", " ")))
        if not ok and diag:
            for l in str(diag).splitlines()[:40]:
                print("# " + l)
    return 0


if __name__ == "__main__":
    sys.exit(main())
