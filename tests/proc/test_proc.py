#!/usr/bin/env python3
"""The kernel model's /proc files (mmuemu run --proc / --proc-dir), TAP output.

For an x86-64 guest and i386 guests (2-level with HighMem, PAE) the five files are printed once
after a text report (sections "==> /proc/NAME <==") and once into a --proc-dir; then:

  - shapes: each file is compared with the host's own /proc/NAME (skipped with "# SKIP" only
    when the host has no such file or it cannot be read). Lines are reduced to token shapes
    (numbers -> N, zone names -> Z, migratetype names -> T, slab cache names -> W); the header
    lines must match, every line shape of ours must occur in the host's file, meminfo's field
    names must come in the host's order, each with the host's line shape. Differences the kernel
    configuration or version explains (the host may run another kernel than 6.12, with or
    without CMA, memory isolation, NUMA, ballooning) are listed below and allowed; they are
    printed as TAP diagnostics;
  - values: MemTotal is the managed memory the report's zones give (--mem minus the 16 MiB the
    model reserves), MemFree and zoneinfo's "pages free" equal the report's free pages,
    buddyinfo's blocks add up to them, pagetypeinfo's per-type counts add up to buddyinfo,
    zoneinfo's watermarks and pagesets equal the report's, PageTables equals the report's
    page-table pages, HighTotal + LowTotal = MemTotal;
  - the --proc-dir files are identical to the printed sections (the model is deterministic);
  - a bad --proc name is a usage error (exit 2) naming the file.

Every run uses --self-check.  Usage: test_proc.py MMUEMU GUESTS_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

NAMES = ["buddyinfo", "pagetypeinfo", "zoneinfo", "slabinfo", "meminfo"]
ZONES = {"DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"}
MTYPES = {"Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"}

# Lines (by their first word) that one side may have and the other not, because of the kernel
# version (6.12 vs. newer hosts) or configuration.
ZONEINFO_VERSION_ITEMS = {
    "nr_bounce", "nr_writeback_temp", "nr_free_pages_blocks", "nr_free_cma", "nr_unaccepted",
    "nr_iommu_pages", "nr_swapcached", "pgpromote_success", "pgpromote_candidate",
    "pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged", "nr_kernel_misc_reclaimable",
    "nr_zspages", "nr_shadow_call_stack", "nr_sec_page_table_pages", "nr_throttled_written",
    "nr_foll_pin_acquired", "nr_foll_pin_released", "nr_memmap_pages", "nr_memmap_boot_pages",
    "nr_balloon_pages", "nr_vmalloc", "nr_kernel_stack", "nr_shmem_hugepages",
    "nr_shmem_pmdmapped", "nr_file_hugepages", "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages", "numa_hit", "numa_miss", "numa_foreign", "numa_interleave",
    "numa_local", "numa_other", "high_min:", "high_max:",
}
MEMINFO_CONFIG_FIELDS = {
    "HighTotal", "HighFree", "LowTotal", "LowFree", "Zswap", "Zswapped", "HardwareCorrupted",
    "CmaTotal", "CmaFree", "Unaccepted", "Balloon", "DirectMap1G", "DirectMap4M", "DirectMap2M",
    "ShadowCallStack", "MmapCopy", "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped",
    "FileHugePages", "FilePmdMapped", "SecPageTables", "GPUActive", "GPUReclaim",
}

results = []


def tap(ok, name, diag=None, skip=None, notes=None):
    results.append((ok, name, diag, skip, notes))


def tokens(line):
    return re.findall(r">?\d+|[A-Za-z_][\w()]*|[^\s\w]", line)


def shape(line, cache_names=False):
    out = []
    toks = tokens(line)
    for i, t in enumerate(toks):
        if re.fullmatch(r">?\d+", t):
            out.append("N")
        elif t in ZONES and i > 0 and toks[i - 1] == "zone":
            out.append("Z")
        elif t in MTYPES and i > 0 and toks[i - 1] == "type":
            out.append("T")
        elif cache_names and i == 0:
            out.append("W")
        else:
            out.append(t)
    return " ".join(out)


def read_host(name):
    try:
        with open("/proc/" + name) as f:
            return f.read()
    except OSError:
        return None


def run(mm, args, prog, expect=0):
    p = subprocess.run([mm, "run", "--self-check", "--model", "functional", *args, "--", prog],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if p.returncode != expect:
        raise RuntimeError("%s: exit %d (expected %d): %s" % (prog, p.returncode, expect,
                                                              p.stderr.decode()[-500:]))
    return p


def sections(text):
    """Splits '==> /proc/NAME <==' sections out of a text report."""
    out, cur = {}, None
    for line in text.split("\n"):
        m = re.fullmatch(r"==> /proc/(\w+) <==", line)
        if m:
            cur = m.group(1)
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


# ---- shape comparisons -------------------------------------------------------------------------

def cmp_buddyinfo(ours, host):
    p = []
    hs = {shape(l) for l in host.splitlines()}
    width = {len(l) for l in host.splitlines()}
    for l in ours.splitlines():
        if shape(l) not in hs:
            p.append("line shape not on host: %r" % l)
        if len(tokens(l)) != 5 + 11:
            p.append("expected 11 orders: %r" % l)
        if len(l) not in width:  # fixed-width columns: "%8s " zone, "%6lu " counts
            p.append("line width %d, host's %s: %r" % (len(l), sorted(width), l))
    return p, []


def cmp_pagetypeinfo(ours, host):
    p, notes = [], []
    ol, hl = ours.splitlines(), host.splitlines()
    for i in range(4):
        if shape(ol[i]) != shape(hl[i]):
            p.append("header line %d: %r vs host %r" % (i, ol[i], hl[i]))
    if ol[3] != hl[3]:
        p.append("order header differs in layout: %r vs host %r" % (ol[3], hl[3]))
    rows = {len(l) for l in hl if ", type" in l and ">" not in l}
    for l in ol:
        if ", type" in l and ">" not in l and len(l) not in rows:
            p.append("row width %d, host's %s: %r" % (len(l), sorted(rows), l))
    hs = {shape(l) for l in hl}
    for l in ol:
        if l.startswith("Number of blocks type") or (l.startswith("Node ") and ", type" not in l):
            continue
        if shape(l) not in hs:
            p.append("line shape not on host: %r" % l)

    def block_types(lines):
        for l in lines:
            if l.startswith("Number of blocks type"):
                return l.split()[4:]
        return None
    ot, ht = block_types(ol), block_types(hl)
    if ot is None or ht is None:
        p.append("no 'Number of blocks type' table")
        return p, notes
    if [t for t in ht if t in ot] != ot:
        p.append("migratetypes %s not in the host's order %s" % (ot, ht))
    if ot != ht:
        notes.append("migratetypes: ours %s, host %s (configuration)" % (ot, ht))
    # each zone row of the block table: "Node N, zone Z" + one count per type
    after = False
    for lines, types, who in ((ol, ot, "ours"), (hl, ht, "host")):
        after = False
        for l in lines:
            if l.startswith("Number of blocks type"):
                after = True
                continue
            if after and l.startswith("Node "):
                if shape(l) != "Node N , zone Z" + " N" * len(types):
                    p.append("%s block row %r does not have %d counts" % (who, l, len(types)))
    return p, notes


def cmp_zoneinfo(ours, host):
    p, notes = [], []
    # the protection list has one entry per zone of the kernel: checked below, not by shape
    def zshape(l):
        return shape(re.sub(r"protection: \(.*\)", "protection: (LIST)", l))
    hs = {zshape(l) for l in host.splitlines()}
    extra = set()
    for l in ours.splitlines():
        s = zshape(l)
        if s in hs:
            continue
        first = l.split()[0] if l.split() else ""
        if first in ZONEINFO_VERSION_ITEMS:
            extra.add(first)
            continue
        p.append("line shape not on host: %r" % l)
    if extra:
        notes.append("zoneinfo items not on this host (version/config): " + " ".join(sorted(extra)))
    for text, who in ((ours, "ours"), (host, "host")):
        nz = len(re.findall(r"^Node \d+, zone", text, re.M))
        for m in re.finditer(r"protection: \(([^)]*)\)", text):
            if len(m.group(1).split(",")) != nz:
                p.append("%s: protection has %d entries for %d zones" % (who, len(m.group(1).split(",")), nz))
    if ours.count("per-node stats") != 1:
        p.append("per-node stats printed %d times" % ours.count("per-node stats"))
    return p, notes


def cmp_slabinfo(ours, host):
    p = []
    ol, hl = ours.splitlines(), host.splitlines()
    for i in range(2):
        if shape(ol[i]) != shape(hl[i]):
            p.append("header line %d: %r vs host %r" % (i, ol[i], hl[i]))
    hs = {shape(l, True) for l in hl[2:]}
    for l in ol[2:]:
        if shape(l, True) not in hs:
            p.append("cache line shape not on host: %r" % l)
    return p, []


def meminfo_fields(text):
    return [(l.split(":")[0], l) for l in text.splitlines() if ":" in l]


def cmp_meminfo(ours, host):
    p, notes = [], []
    of, hf = meminfo_fields(ours), meminfo_fields(host)
    hmap = dict(hf)
    on = [n for n, _ in of]
    hn = [n for n, _ in hf]
    common_o = [n for n in on if n in hmap]
    common_h = [n for n in hn if n in set(on)]
    if common_o != common_h:
        p.append("common fields in another order: %s vs host %s" % (common_o, common_h))
    for n, l in of:
        if n in hmap:
            if shape(l) != shape(hmap[n]):
                p.append("%s: %r has another shape than the host's %r" % (n, l, hmap[n]))
        elif n not in MEMINFO_CONFIG_FIELDS:
            p.append("field %s is not on the host" % n)
    missing = [n for n in hn if n not in set(on)]
    bad = [n for n in missing if n not in MEMINFO_CONFIG_FIELDS]
    if bad:
        p.append("host fields we lack: %s" % bad)
    if missing or [n for n in on if n not in hmap]:
        notes.append("meminfo: host only %s; ours only %s (configuration)" %
                     (missing, [n for n in on if n not in hmap]))
    for n, l in of:
        if not re.fullmatch(r"[\w()]+:\s+\d+( kB)?", l):
            p.append("malformed meminfo line %r" % l)
    return p, notes


CMP = {"buddyinfo": cmp_buddyinfo, "pagetypeinfo": cmp_pagetypeinfo, "zoneinfo": cmp_zoneinfo,
       "slabinfo": cmp_slabinfo, "meminfo": cmp_meminfo}


# ---- value checks ------------------------------------------------------------------------------

def zoneinfo_zones(text):
    zones, cur = {}, None
    for l in text.splitlines():
        m = re.match(r"Node \d+, zone\s+(\w+)", l)
        if m:
            cur = zones.setdefault(m.group(1), {})
            continue
        t = l.split()
        if cur is None or len(t) < 2:
            continue
        if t[0] == "pages" and t[1] == "free":
            cur["free"] = int(t[2])
        elif t[0] in ("min", "low", "high", "managed", "spanned", "present") and t[1].isdigit():
            cur[t[0]] = int(t[1])
        elif t[0] in ("count:", "batch:"):
            cur["pcp_" + t[0][:-1]] = int(t[1])
        elif t[0] == "high:":
            cur["pcp_high"] = int(t[1])
    return zones


def check_values(rep, files, mem_bytes, is64):
    p = []
    zones = {z["name"]: z for z in rep["memory"]["zones"]}
    mi = {n: int(re.findall(r"\d+", l.split(":", 1)[1])[0]) for n, l in meminfo_fields(files["meminfo"])}
    managed = sum(z["managed_pages"] for z in zones.values())
    free = sum(z["free_pages"] for z in zones.values())
    if managed * 4 != mem_bytes // 1024 - 16 * 1024:
        p.append("report: managed %d pages, expected --mem - 16 MiB" % managed)
    if mi["MemTotal"] != managed * 4:
        p.append("MemTotal %d kB != managed %d pages * 4" % (mi["MemTotal"], managed))
    if mi["MemFree"] != free * 4:
        p.append("MemFree %d kB != report free %d pages * 4" % (mi["MemFree"], free))
    if not 0 < mi["MemAvailable"] <= mi["MemFree"] + mi["Cached"] + mi["SReclaimable"]:
        p.append("MemAvailable %d out of range" % mi["MemAvailable"])
    pt = sum(rep["memory"]["pgtable_pages_at_exit"].values())
    if mi["PageTables"] != pt * 4:
        p.append("PageTables %d kB != %d page-table pages" % (mi["PageTables"], pt))
    if mi["AnonPages"] <= 0 or mi["Slab"] <= 0:
        p.append("AnonPages %d / Slab %d should be positive after a run" % (mi["AnonPages"], mi["Slab"]))
    if not is64:
        if mi["HighTotal"] + mi["LowTotal"] != mi["MemTotal"]:
            p.append("HighTotal + LowTotal != MemTotal")
        if mi["HighTotal"] != zones["HighMem"]["managed_pages"] * 4:
            p.append("HighTotal %d != HighMem managed" % mi["HighTotal"])
    # buddyinfo blocks -> pages per zone
    bi = {}
    for l in files["buddyinfo"].splitlines():
        t = l.split()
        counts = [int(x) for x in t[4:]]
        bi[t[3]] = counts
        pages = sum(c << o for o, c in enumerate(counts))
        if pages != zones[t[3]]["free_pages"]:
            p.append("buddyinfo %s: %d pages, report says %d free" % (t[3], pages, zones[t[3]]["free_pages"]))
    # pagetypeinfo per-type rows add up to buddyinfo
    sums = {}
    for l in files["pagetypeinfo"].splitlines():
        m = re.match(r"Node\s+\d+, zone\s+(\w+), type\s+\w+\s+(.*)", l)
        if m:
            row = [int(x.lstrip(">")) for x in m.group(2).split()]
            s = sums.setdefault(m.group(1), [0] * 11)
            for i, v in enumerate(row):
                s[i] += v
    if sums != bi:
        p.append("pagetypeinfo per-type counts %s do not add up to buddyinfo %s" % (sums, bi))
    zi = zoneinfo_zones(files["zoneinfo"])
    for name, z in zones.items():
        if name not in zi:
            p.append("zone %s missing from zoneinfo" % name)
            continue
        q = zi[name]
        for key, rkey in (("free", "free_pages"), ("managed", "managed_pages"), ("min", "watermark_min"),
                          ("low", "watermark_low"), ("high", "watermark_high")):
            if q.get(key) != z[rkey]:
                p.append("zoneinfo %s %s %s != report %s %s" % (name, key, q.get(key), rkey, z[rkey]))
        if z["present_pages"] and (q.get("pcp_count") != z["pcp_pages"] or q.get("pcp_batch") != z["pcp_batch"]
                                   or q.get("pcp_high") != z["pcp_high"]):
            p.append("zoneinfo %s pageset %s != report %s" % (name, q, z))
    return p


def one_arch(mm, prog, label, extra, mem_bytes, is64, hosts):
    with tempfile.TemporaryDirectory() as td:
        rtxt = os.path.join(td, "r.txt")
        rjson = os.path.join(td, "r.json")
        pdir = os.path.join(td, "proc")
        os.mkdir(pdir)
        try:
            run(mm, [*extra, "--report", rtxt, "--proc", ",".join(NAMES)], prog)
            run(mm, [*extra, "--report-format", "json", "--report", rjson, "--proc-dir", pdir,
                     "--proc", "all"], prog)
            with open(rtxt) as f:
                printed = sections(f.read())
            with open(rjson) as f:
                rep = json.load(f)
            files = {}
            for n in NAMES:
                with open(os.path.join(pdir, n)) as f:
                    files[n] = f.read()
        except Exception as ex:  # a failed run fails every case of this guest
            tap(False, "%s: runs with --proc" % label, [str(ex)])
            return
        tap(list(printed) == NAMES, "%s: --proc prints the five files in the order asked" % label,
            ["got sections %s" % list(printed)])
        diff = [n for n in NAMES if printed.get(n, "").rstrip("\n") != files[n].rstrip("\n")]
        tap(not diff, "%s: --proc-dir files equal the printed sections" % label, ["differ: %s" % diff])
        for n in NAMES:
            host = hosts[n]
            if host is None:
                tap(True, "%s: /proc/%s line shapes match the host's" % (label, n), skip="host has no /proc/" + n)
                continue
            problems, notes = CMP[n](files[n], host)
            tap(not problems, "%s: /proc/%s line shapes match the host's" % (label, n), problems, notes=notes)
        vp = check_values(rep, files, mem_bytes, is64)
        tap(not vp, "%s: /proc values agree with the report" % label, vp)


def main():
    mm, guests = sys.argv[1], sys.argv[2]
    hosts = {n: read_host(n) for n in NAMES}
    one_arch(mm, os.path.join(guests, "malloc_churn-x86_64"), "x86-64 4G", [], 4 << 30, True, hosts)
    one_arch(mm, os.path.join(guests, "malloc_churn-i386"), "i386 2G 2level", ["--mem", "2G"], 2 << 30,
             False, hosts)
    one_arch(mm, os.path.join(guests, "hello-i386"), "i386 1G pae", ["--mem", "1G", "--paging", "pae"],
             1 << 30, False, hosts)
    # a bad name is a usage error that names it
    p = subprocess.run([mm, "run", "--proc", "buddyinfo,vmstat", "--", os.path.join(guests, "hello-x86_64")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode()
    tap(p.returncode == 2 and "vmstat" in err, "--proc with an unknown name: exit 2 naming it",
        ["exit %d: %s" % (p.returncode, err.strip())])
    with tempfile.TemporaryDirectory() as td:
        # a path under a regular file can be neither found nor created
        blocker = os.path.join(td, "file")
        open(blocker, "w").close()
        p = subprocess.run([mm, "run", "--proc-dir", os.path.join(blocker, "dir"), "--",
                            os.path.join(guests, "hello-x86_64")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        tap(p.returncode == 2 and "--proc-dir" in p.stderr.decode(), "--proc-dir that is not a directory: exit 2",
            ["exit %d: %s" % (p.returncode, p.stderr.decode().strip())])
        # a missing directory is created, parents included
        nested = os.path.join(td, "a", "b")
        p = subprocess.run([mm, "run", "--no-report", "--proc-dir", nested, "--",
                            os.path.join(guests, "hello-x86_64")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        made = sorted(os.listdir(nested)) if os.path.isdir(nested) else []
        tap(p.returncode == 0 and made == sorted(["buddyinfo", "pagetypeinfo", "zoneinfo", "slabinfo", "meminfo"]),
            "--proc-dir creates a missing directory and writes the five files",
            ["exit %d, files %r: %s" % (p.returncode, made, p.stderr.decode().strip()[-300:])])

    print("TAP version 13")
    print("1..%d" % len(results))
    for i, (ok, name, diag, skip, notes) in enumerate(results, 1):
        if skip:
            print("ok %d - %s # SKIP %s" % (i, name, skip))
            continue
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
        for d in ((diag or []) if not ok else []) + (notes or []):
            print("# " + str(d).replace("\n", "\n# "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
