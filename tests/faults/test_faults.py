#!/usr/bin/env python3
"""Page faults of the kernel model against the real kernel (TAP output).

For every guest of guests/ (x86-64 builds: glibc, musl, static-PIE, with the argument sets of the
guest harness) and for the busybox applets the harness runs, the model's page-fault count
(report: page_faults.total less the SIGSEGV/SIGBUS and OOM kinds, i.e. the user and uaccess
faults handle_mm_fault resolved, which is what Linux counts in min_flt + maj_flt) must be within 10 % of the minor + major faults of the same binary run
natively (os.wait4's rusage; the minimum of three runs, so the page cache is warm), or within 5
faults when the native count is under 50.

The host kernel decides one thing the model must be told: whether a read fault on anonymous
memory maps the shared zero page (Linux 6.12's do_anonymous_page) or allocates a page (kernels
where mm_forbids_zeropage() holds, and some host kernels). A probe measures it natively and the
model runs with --no-zero-page when the host does not use the zero page.

i386 guests are not compared: this host cannot execute i386 binaries natively (the guest harness
uses qemu-i386, whose fault counts are qemu's own).

Writes the table as Markdown to OUT_MD.

Usage: test_faults.py MMUEMU GUESTS_DIR BUSYBOX OUT_MD
"""
import json
import mmap
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'guests'))
import run_guest_tests as harness  # noqa: E402


def native_faults(cmd, cwd, env, runs=3):
    """Minimum faults over runs, and the exit status. Output goes to a regular file: writing to
    /dev/null never reads the buffer, which would change what a guest like efault sees."""
    best = None
    with tempfile.TemporaryFile() as out:
        for _ in range(runs):
            p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=out)
            _, status, ru = os.wait4(p.pid, 0)
            n = ru.ru_minflt + ru.ru_majflt
            best = n if best is None else min(best, n)
    return best, os.waitstatus_to_exitcode(status)


def no_aslr():
    """Native runs without address-space randomisation, as the model runs (setarch -R), so stack
    and heap start at the same offsets. The personality is inherited by the children; setting it
    here rather than through setarch keeps setarch's own faults out of the children's rusage."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        cur = libc.personality(0xffffffff)
        return cur >= 0 and libc.personality(cur | 0x0040000) >= 0   # ADDR_NO_RANDOMIZE
    except OSError:
        return False


def host_uses_zero_page():
    """Whether this kernel maps the zero page on anonymous read faults: read 64 fresh pages, then
    write them; with the zero page every write is a COW fault."""
    m = mmap.mmap(-1, 64 * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    s = 0
    for i in range(64):
        s += m[i * 4096]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(64):
        m[i * 4096] = 1
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    m.close()
    return after - before >= 48


def model_faults(mm, cmd, cwd, env, extra):
    with tempfile.TemporaryDirectory() as td:
        rep = os.path.join(td, 'r.json')
        with tempfile.TemporaryFile() as out:
            p = subprocess.run([mm, 'run', '--model', 'functional', '--self-check', *extra, '--report-format',
                                'json', '--report', rep, '--'] + cmd, cwd=cwd, env=env, stdout=out,
                               stderr=subprocess.PIPE, timeout=600)
        with open(rep) as f:
            r = json.load(f)
        pf = r['page_faults']
        # Linux's min_flt + maj_flt (mm_account_fault) count the faults handle_mm_fault resolved:
        # not bad-address/access errors (SIGSEGV, SIGBUS kinds), not the OOM kill.
        n = pf['total'] - pf['by_kind'].get('SIGSEGV', 0) - pf['by_kind'].get('OOM', 0)
        return n, pf['by_kind'], p.returncode, p.stderr.decode()


def within(native, model):
    if native < 50:
        return abs(model - native) <= 5
    return abs(model - native) <= 0.10 * native


def main():
    mm, guests, busybox, out_md = sys.argv[1:5]
    mm, guests = os.path.abspath(mm), os.path.abspath(guests)
    aslr_off = no_aslr()
    zero = host_uses_zero_page()
    extra = [] if zero else ['--no-zero-page']
    env = dict(os.environ)
    cases = []
    for name, argsets in harness.GUESTS.items():
        for argset in argsets:
            if argset.status != 0:
                continue   # wildptr: killed by SIGSEGV, faults until the kill are not comparable
            for v in ('x86_64', 'x86_64-musl', 'x86_64-pie'):
                prog = os.path.join(guests, '%s-%s' % (name, v))
                if os.path.exists(prog):
                    e = dict(env)
                    e.update(argset.env)
                    cases.append(('%s/%s/%s' % (name, v, argset.name), [prog] + argset.args, e))
    td = tempfile.mkdtemp(prefix='mmuemu-faults-')
    if os.path.exists(busybox):
        h = harness.Harness.__new__(harness.Harness)
        # The busybox input files of the guest harness, made in td.
        h.tmp_root = td
        try:
            data_dir = harness.Harness._make_busybox_data(h)
        except Exception:
            data_dir = None
        if data_dir:
            for n, a, stdin in harness.Harness.BUSYBOX_CASES:
                if stdin is None:
                    cases.append(('busybox/' + n, [busybox] + a, dict(env, _cwd=data_dir)))
    rows, results = [], []
    for cid, cmd, e in cases:
        cwd = e.pop('_cwd', td)
        n, nstatus = native_faults(cmd, cwd, e)
        m, kinds, rc, err = model_faults(mm, cmd, cwd, e, extra)
        ok = within(n, m) and rc == nstatus and 'self-check failed' not in err
        if rc != nstatus:
            err = 'exit status: native %d, mmuemu %d\n%s' % (nstatus, rc, err)
        diff = m - n
        rows.append((cid, n, m, diff, 100.0 * diff / n if n else 0.0, ok, kinds))
        results.append((ok, cid, n, m, err if not ok else ''))
    print('TAP version 13')
    print('# native runs with ASLR off: %s' % ('yes' if aslr_off else 'no (personality failed)'))
    print('# host kernel maps the zero page on anonymous read faults: %s%s' %
          ('yes' if zero else 'no', '' if zero else ' (model run with --no-zero-page)'))
    print('1..%d' % len(results))
    for i, (ok, cid, n, m, err) in enumerate(results, 1):
        print('%s %d - %s: native %d, model %d' % ('ok' if ok else 'not ok', i, cid, n, m))
        if err:
            print('  # ' + err.strip().replace('\n', '\n  # '))
    with open(out_md, 'w') as f:
        f.write('Host kernel maps the zero page on read faults: %s\n\n' % ('yes' if zero else 'no'))
        f.write('| case | native | model | diff | diff % | within bound | model faults by kind |\n')
        f.write('|---|---:|---:|---:|---:|---|---|\n')
        for cid, n, m, d, pct, ok, kinds in rows:
            k = ', '.join('%s %d' % (a, b) for a, b in kinds.items() if b)
            f.write('| %s | %d | %d | %+d | %+.1f%% | %s | %s |\n' % (cid, n, m, d, pct, 'yes' if ok else 'NO', k))
    return 0 if all(r[0] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
