#!/usr/bin/env python3
"""Guest integration tests for mmuemu: real static binaries, compared with native runs.

    run_guest_tests.py --mmuemu build/emu/mmuemu --guests-dir build/guests [--only NAME]...

Case groups (select with --only; a NAME is a group, a case id, a case-id prefix or a glob):
  <guest>      for each guest in guests/ x build variant (x86_64, i386, x86_64-musl, x86_64-pie,
               i386-pie) x argument set: the reference run and
               `mmuemu run --report FILE -- PROG ARGS` must give identical stdout, stderr and exit
               status. wildptr must end with status 139 and mmuemu's stderr must carry exactly one
               extra line "killed by SIGSEGV at 0xADDR (pc 0xPC)" with the expected address.
               <guest>/all-variants/<args> checks that the native reference outputs of all build
               variants are identical (the guests are written so that they are).
  busybox      Debian's static /bin/busybox (x86-64): each applet run natively and under mmuemu,
               byte-for-byte identical; gzip|gunzip round trip with both sides under mmuemu.
  malformed    broken ELF files derived from a good guest, a text file, an empty file, a
               dynamically linked binary, a missing file and a directory: mmuemu must exit 2
               with a one-line message on stderr and nothing on stdout, never crash or hang.

The reference for x86-64 is the binary run natively. For i386 it is the binary run natively if
this kernel can exec i386 programs, otherwise under qemu-i386 (detected once and reported).
qemu-user is not Linux: where an i386 guest's mmuemu output differs from the qemu-i386 reference
but is identical to the x86-64 native run of the same guest and arguments, the case passes with a
note (the guests print the same bytes on both architectures; see <guest>/all-variants).

Output is TAP (meson: protocol 'tap'); a failing case prints the command lines and unified diffs.
Every process runs with a clean environment (PATH, LC_ALL=C, TMPDIR=<per-run temp dir>, plus any
MMUEMU_* variables of the caller), stdin from /dev/null, umask 022, core dumps off, and a timeout.
Exit status: 0 if no case failed, 1 otherwise, 2 on usage errors. Standard library only.
"""

import argparse
import concurrent.futures
import difflib
import fnmatch
import os
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elfutil  # noqa: E402


class ArgSet:
    """One way to run a guest: a name, argv[1:], extra environment, expected exit status."""

    def __init__(self, name, args=(), env=None, status=0, fault_addr=None, fault_pc=None):
        self.name = name
        self.args = list(args)
        self.env = dict(env or {})
        self.status = status
        self.fault_addr = fault_addr   # wildptr: the address mmuemu must report
        self.fault_pc = fault_pc       # wildptr exec: the pc mmuemu must report


def _wild(mode, addr, pc=None):
    return ArgSet(mode, [mode] if mode != 'read' else [], status=139, fault_addr=addr,
                  fault_pc=pc)


# Guest name -> argument sets. The first is the guest's defaults.
GUESTS = {
    'hello': [ArgSet('default'),
              ArgSet('args', ['one', 'two words', '', '--flag=x'], {'HELLO_NAME': 'mmuemu'})],
    'checksum': [ArgSet('default'), ArgSet('8MiB-stride64', ['8', '64'])],
    'ptrchase': [ArgSet('default'), ArgSet('256K', ['256K', '300000', '7'])],
    'malloc_churn': [ArgSet('default'), ArgSet('small', ['20000', '7', '256'])],
    'mmap_test': [ArgSet('default'), ArgSet('4MiB', ['4'])],
    'wildptr': [_wild('read', 0x1234), _wild('write', 0x1234), _wild('exec', 0x1234, 0x1234),
                _wild('null', 0x10)],
    'efault': [ArgSet('default'), ArgSet('64pages', ['64'])],
    'fileio': [ArgSet('default'), ArgSet('100000', ['100000'])],
    'sysquery': [ArgSet('default'), ArgSet('more', ['256', '10000'])],
    'stackgrow': [ArgSet('default'), ArgSet('deep', ['6144', '4096'])],
}
# Build variants (suffix of the binary's name). A missing x86_64 binary is a failure; a missing
# other variant is skipped (no multilib, no musl-gcc, no static-pie, or not a PIE guest).
VARIANTS = ['x86_64', 'i386', 'x86_64-musl', 'x86_64-pie', 'i386-pie']
REQUIRED_VARIANTS = {'x86_64'}
# Guests that guests/meson.build also builds as static PIEs (guest_pie_names there).
PIE_GUESTS = {'hello', 'malloc_churn'}

KILLED_RE = re.compile(rb'killed by SIGSEGV at (0x[0-9a-fA-F]+) \(pc (0x[0-9a-fA-F]+)\)')
QEMU_SIGNAL_RE = re.compile(rb'(?m)^qemu: uncaught target signal [^\n]*\n?')
MAX_DIFF_LINES = 120


# --------------------------------------------------------------------------------------------
# Running processes

class Result:
    def __init__(self, cmd, cwd=None, stdout=b'', stderr=b'', returncode=None, timed_out=False,
                 exec_error=None, stdin=None, env=None):
        self.cmd = cmd
        self.env = env
        self.cwd = cwd
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = returncode
        self.timed_out = timed_out
        self.exec_error = exec_error

    @property
    def signal(self):
        """The signal that killed the process itself, or None."""
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None

    @property
    def status(self):
        """Exit status as a shell reports it: 128 + signal for a death by signal."""
        if self.returncode is None:
            return None
        return 128 - self.returncode if self.returncode < 0 else self.returncode

    def describe_status(self):
        if self.exec_error is not None:
            return 'could not start: %s' % self.exec_error
        if self.timed_out:
            return 'timed out (killed)'
        if self.signal:
            return 'killed by %s (status %d)' % (signal_name(self.signal), self.status)
        return 'exit status %d' % self.status

    def command_line(self):
        """A shell command that repeats the run (environment except PATH shown explicitly)."""
        s = shlex.join(str(c) for c in self.cmd)
        if self.env:
            s = ' '.join('%s=%s' % (k, shlex.quote(v)) for k, v in sorted(self.env.items())
                         if k != 'PATH') + ' ' + s
        if self.stdin:
            s += ' < ' + shlex.quote(self.stdin)
        return ('(cd %s && %s)' % (shlex.quote(self.cwd), s)) if self.cwd else s


def signal_name(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        return 'signal %d' % sig


def run(cmd, env, cwd, timeout, stdin=None):
    try:
        stdin_f = open(stdin, 'rb') if stdin else subprocess.DEVNULL
    except OSError as e:
        return Result(cmd, cwd, exec_error=e, stdin=stdin, env=env)
    try:
        p = subprocess.Popen(cmd, stdin=stdin_f, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, cwd=cwd, start_new_session=True)
    except OSError as e:
        return Result(cmd, cwd, exec_error=e, stdin=stdin, env=env)
    finally:
        if stdin:
            stdin_f.close()
    timed_out = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
    return Result(cmd, cwd, out, err, p.returncode, timed_out, stdin=stdin, env=env)


# --------------------------------------------------------------------------------------------
# Comparing outputs

def _lines(b):
    return b.decode('utf-8', errors='backslashreplace').splitlines(keepends=True)


def _is_text(b):
    return b'\0' not in b[:65536]


def diff_bytes(label, expected, got, from_name='expected', to_name='mmuemu'):
    """Diagnostic lines describing how got differs from expected (empty if equal)."""
    if expected == got:
        return []
    out = ['%s differs (%s %d bytes, %s %d bytes):' % (label, from_name, len(expected), to_name,
                                                       len(got))]
    if _is_text(expected) and _is_text(got):
        d = list(difflib.unified_diff(_lines(expected), _lines(got), from_name + ' ' + label,
                                      to_name + ' ' + label, n=2))
        for line in d[:MAX_DIFF_LINES]:
            out.append('  ' + line.rstrip('\n'))
        if len(d) > MAX_DIFF_LINES:
            out.append('  ... (%d more diff lines)' % (len(d) - MAX_DIFF_LINES))
    else:
        n = min(len(expected), len(got))
        first = next((i for i in range(n) if expected[i] != got[i]), n)
        out.append('  binary output; first difference at byte offset %d' % first)
    return out


def compare(ref, emu, label_ref='reference', label_emu='mmuemu'):
    """Problems (diagnostic lines) if emu's stdout, stderr or status differ from ref's."""
    problems = []
    if emu.status != ref.status:
        problems.append('exit status differs: %s %s, %s %s' % (
            label_ref, ref.describe_status(), label_emu, emu.describe_status()))
    problems += diff_bytes('stdout', ref.stdout, emu.stdout, label_ref, label_emu)
    problems += diff_bytes('stderr', ref.stderr, emu.stderr, label_ref, label_emu)
    return problems


def emulator_failure(emu):
    """Problems that are failures whatever the reference did: crash, hang, could not start."""
    if emu.exec_error is not None:
        return ['mmuemu could not be started: %s' % emu.exec_error]
    if emu.timed_out:
        return ['mmuemu timed out and was killed']
    if emu.signal:
        return ['mmuemu itself was killed by %s (an emulator crash: a guest fault must end '
                'with exit status 128+signal, not a host signal)' % signal_name(emu.signal)]
    return []


# --------------------------------------------------------------------------------------------
# Test cases

class Outcome:
    def __init__(self, ok=True, skip=None, diag=None, notes=None):
        self.ok = ok
        self.skip = skip
        self.diag = diag or []
        self.notes = notes or []


class Case:
    def __init__(self, case_id, fn):
        self.id = case_id
        self.fn = fn


class Memo:
    """Compute each key once, even when several threads ask at the same time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = {}

    def get(self, key, fn):
        with self._lock:
            ent = self._entries.get(key)
            if ent is None:
                ent = self._entries[key] = [threading.Lock(), None, False]
        with ent[0]:
            if not ent[2]:
                ent[1] = fn()
                ent[2] = True
            return ent[1]


class Harness:
    def __init__(self, opts):
        self.opts = opts
        self.mmuemu = os.path.abspath(opts.mmuemu)
        self.guests_dir = os.path.abspath(opts.guests_dir)
        self.busybox = opts.busybox
        self.timeout = opts.timeout
        self.tmp_root = tempfile.mkdtemp(prefix='mmuemu-guest-tests-')
        self.memo = Memo()
        self._counter = 0
        self._counter_lock = threading.Lock()
        self.base_env = {'PATH': '/usr/local/bin:/usr/bin:/bin', 'LC_ALL': 'C'}
        for k, v in os.environ.items():
            # Sanitizer settings reach the (ASan-built) mmuemu; the reference gets the same
            # environment, so the guests see identical ones.
            if k.startswith(('MMUEMU_', 'ASAN_', 'UBSAN_', 'LSAN_')):
                self.base_env[k] = v

    # -- helpers ------------------------------------------------------------------------------

    def fresh_dir(self, tag):
        with self._counter_lock:
            self._counter += 1
            n = self._counter
        d = os.path.join(self.tmp_root, '%04d-%s' % (n, re.sub(r'[^A-Za-z0-9_.-]', '_', tag)))
        os.makedirs(d)
        return d

    def env_for(self, tmpdir, extra=None):
        env = dict(self.base_env)
        env['TMPDIR'] = tmpdir
        env.update(extra or {})
        return env

    def guest(self, name, variant):
        return os.path.join(self.guests_dir, '%s-%s' % (name, variant))

    def emulate(self, prog, args, tag, cwd=None, env_extra=None, stdin=None):
        """Run prog under mmuemu; return (Result, report path)."""
        d = self.fresh_dir('emu-' + tag)
        report = os.path.join(d, 'report')
        cmd = ([self.mmuemu, 'run', '--self-check'] + self.opts.mmuemu_arg +
               ['--report', report, '--', prog] + args)
        r = run(cmd, self.env_for(d, env_extra), cwd or d, self.timeout, stdin)
        return r, report

    def report_problems(self, report):
        if self.opts.no_report_check:
            return []
        try:
            if os.path.getsize(report) > 0:
                return []
            return ['mmuemu wrote an empty report file %s' % report]
        except OSError:
            return ['mmuemu did not write the report file given with --report']

    # -- the i386 reference --------------------------------------------------------------------

    def i386_reference(self):
        """(command prefix, description) for running i386 binaries, or (None, why not)."""
        return self.memo.get('i386-reference', self._detect_i386)

    def _detect_i386(self):
        mode = self.opts.i386_reference
        probe = None
        for name in ['hello'] + list(GUESTS):
            for v in ('i386', 'i386-pie'):
                if os.path.exists(self.guest(name, v)):
                    probe = self.guest(name, v)
                    break
            if probe:
                break
        qemu = self.opts.qemu_i386 or shutil.which('qemu-i386')
        native_err = None
        if mode in ('auto', 'native'):
            if probe is None:
                return None, 'no i386 guest binary to probe with'
            d = self.fresh_dir('probe-i386')
            r = run([probe], self.env_for(d), d, 60)
            if r.exec_error is None and r.status == 0:
                return [], 'native (this kernel executes i386 binaries)'
            native_err = r.exec_error or r.describe_status()
            if mode == 'native':
                return None, 'native i386 exec requested but failed: %s' % native_err
        if qemu and os.access(qemu, os.X_OK):
            why = 'native exec failed: %s' % native_err if native_err else 'requested'
            return [qemu], 'qemu-i386 (%s; %s)' % (qemu, why)
        return None, 'cannot run i386 binaries natively (%s) and qemu-i386 is not installed' % (
            native_err)

    def reference(self, name, variant, argset):
        """The reference Result of one guest variant and argument set (computed once)."""
        def compute():
            prefix = []
            if variant.startswith('i386'):
                prefix, _ = self.i386_reference()
            d = self.fresh_dir('ref-%s-%s-%s' % (name, variant, argset.name))
            r = run(prefix + [self.guest(name, variant)] + argset.args,
                    self.env_for(d, argset.env), d, self.timeout)
            if prefix:
                r.stderr = QEMU_SIGNAL_RE.sub(b'', r.stderr)
            return r
        return self.memo.get(('ref', name, variant, argset.name), compute)

    # -- guest cases ---------------------------------------------------------------------------

    def guest_cases(self):
        cases = []
        for name, argsets in GUESTS.items():
            for argset in argsets:
                for v in VARIANTS:
                    if v.endswith('-pie') and name not in PIE_GUESTS:
                        continue
                    cases.append(Case('%s/%s/%s' % (name, v, argset.name),
                                      lambda n=name, v=v, a=argset: self.guest_case(n, v, a)))
                cases.append(Case('%s/all-variants/%s' % (name, argset.name),
                                  lambda n=name, a=argset: self.variants_case(n, a)))
        return cases

    def check_guest_run(self, name, argset, ref, emu, label_ref):
        """Problems with emu against ref, including wildptr's SIGSEGV line."""
        problems = []
        if argset.fault_addr is not None:
            lines = emu.stderr.splitlines(keepends=True)
            hits = [(i, KILLED_RE.search(l)) for i, l in enumerate(lines)]
            hits = [(i, m) for i, m in hits if m]
            if len(hits) != 1:
                problems.append('expected exactly one "killed by SIGSEGV at 0x... (pc 0x...)" '
                                'line on mmuemu stderr, found %d' % len(hits))
            else:
                i, m = hits[0]
                addr, pc = int(m.group(1), 16), int(m.group(2), 16)
                if addr != argset.fault_addr:
                    problems.append('SIGSEGV address 0x%x, expected 0x%x' % (
                        addr, argset.fault_addr))
                if argset.fault_pc is not None and pc != argset.fault_pc:
                    problems.append('SIGSEGV pc 0x%x, expected 0x%x' % (pc, argset.fault_pc))
                emu = Result(emu.cmd, emu.cwd, emu.stdout, b''.join(lines[:i] + lines[i + 1:]),
                             emu.returncode, emu.timed_out, emu.exec_error)
        return problems + compare(ref, emu, label_ref)

    def guest_case(self, name, variant, argset):
        prog = self.guest(name, variant)
        if not os.path.exists(prog):
            if variant in REQUIRED_VARIANTS:
                return Outcome(False, diag=['guest binary %s is missing (build the guests)' % prog])
            return Outcome(skip='%s not built' % os.path.basename(prog))
        via_qemu = False
        if variant.startswith('i386'):
            prefix, why = self.i386_reference()
            if prefix is None:
                return Outcome(skip='no i386 reference: ' + why)
            via_qemu = bool(prefix)
        ref = self.reference(name, variant, argset)
        emu, report = self.emulate(prog, argset.args, '%s-%s-%s' % (name, variant, argset.name),
                                   env_extra=argset.env)
        cmds = ['reference: ' + ref.command_line(), 'mmuemu:    ' + emu.command_line()]

        problems = emulator_failure(emu)
        if problems:
            return Outcome(False, diag=cmds + problems)
        problems = self.check_guest_run(name, argset, ref, emu, 'qemu-i386' if via_qemu
                                        else 'native')
        ref_ok = ref.exec_error is None and not ref.timed_out and ref.status == argset.status
        notes = []
        if via_qemu and (problems or not ref_ok):
            alt_prog = self.guest(name, 'x86_64')
            if os.path.exists(alt_prog):
                alt = self.reference(name, 'x86_64', argset)
                alt_problems = self.check_guest_run(name, argset, alt, emu, 'x86-64-native')
                if not alt_problems and alt.status == argset.status:
                    notes.append('mmuemu differs from the qemu-i386 reference but is identical '
                                 'to the x86-64 native run (%s); qemu-i386 deviation:' %
                                 alt.command_line())
                    notes += ['  ' + p for p in compare(alt, ref, 'x86-64-native', 'qemu-i386')][:40]
                    problems, ref_ok = [], True
        if not problems and not ref_ok:
            problems = ['mmuemu matches the reference, but the reference itself ended with %s '
                        '(expected exit status %d): the guest fails its own checks' % (
                            ref.describe_status(), argset.status)]
            problems += ['reference stdout tail:'] + [
                '  ' + l.rstrip('\n') for l in _lines(ref.stdout)[-5:]]
        problems += self.report_problems(report)
        if problems:
            return Outcome(False, diag=cmds + problems)
        return Outcome(True, notes=notes)

    def variants_case(self, name, argset):
        """All native build variants print the same bytes and end the same way."""
        base = self.guest(name, 'x86_64')
        if not os.path.exists(base):
            return Outcome(skip='%s not built' % os.path.basename(base))
        ref0 = self.reference(name, 'x86_64', argset)
        problems, notes, compared = [], [], []
        if ref0.status != argset.status:
            problems.append('x86-64 native run: %s, expected exit status %d' % (
                ref0.describe_status(), argset.status))
        for v in VARIANTS[1:]:
            if not os.path.exists(self.guest(name, v)):
                continue
            via_qemu = False
            if v.startswith('i386'):
                prefix, why = self.i386_reference()
                if prefix is None:
                    continue
                via_qemu = bool(prefix)
            r = self.reference(name, v, argset)
            p = compare(ref0, r, 'x86_64', v + (' (qemu-i386)' if via_qemu else ''))
            if via_qemu:
                if p:
                    notes.append('%s under qemu-i386 differs from x86_64 native (not counted: '
                                 'qemu-user is not Linux):' % v)
                    notes += ['  ' + x for x in p[:40]]
                compared.append(v + '(qemu)')
            else:
                problems += ['%s: %s' % (v, x) for x in p]
                compared.append(v)
        if problems:
            return Outcome(False, diag=['reference: ' + ref0.command_line()] + problems)
        notes.insert(0, 'identical: x86_64 ' + ' '.join(compared))
        return Outcome(True, notes=notes)

    # -- busybox -------------------------------------------------------------------------------

    def busybox_data(self):
        return self.memo.get('busybox-data', self._make_busybox_data)

    def _make_busybox_data(self):
        """Deterministic input files; returns the directory."""
        d = os.path.join(self.tmp_root, 'busybox-data')
        os.makedirs(d)
        rng = random.Random(20240601)
        with open(os.path.join(d, 'big.bin'), 'wb') as f:          # 8 MiB of random bytes
            f.write(rng.randbytes(8 << 20))
        letters = 'abcdefghijklmnopqrstuvwxyz'
        words = [''.join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
                 for _ in range(20000)]
        with open(os.path.join(d, 'words.txt'), 'w') as f:
            f.write(''.join(w + '\n' for w in words))
        with open(os.path.join(d, 'table.txt'), 'w') as f:
            for _ in range(5000):
                f.write('%d %d %d\n' % (rng.randint(0, 9999), rng.randint(-500, 500),
                                        rng.randint(0, 10 ** 6)))
        with open(os.path.join(d, 'nums.txt'), 'w') as f:
            f.write(''.join('%d\n' % rng.randint(-10 ** 6, 10 ** 6) for _ in range(5000)))
        with open(os.path.join(d, 'small.txt'), 'w') as f:
            f.write('first line\nsecond line\n\ttabbed third line\nlast line without newline')
        with open(os.path.join(d, 'mixed.bin'), 'wb') as f:           # 1.5 MiB for gzip
            text = ''.join(w + ('\n' if i % 8 == 7 else ' ') for i, w in enumerate(words))
            f.write(text.encode() * 4)
            f.write(rng.randbytes(512 << 10))
        ls = os.path.join(d, 'lsdir')
        os.makedirs(os.path.join(ls, 'subdir'))
        for fname, size in (('alpha.txt', 10), ('beta.bin', 5000), ('Gamma', 0),
                            ('.hidden', 3), ('subdir/inner.txt', 7)):
            with open(os.path.join(ls, fname), 'wb') as f:
                f.write(b'x' * size)
        os.symlink('alpha.txt', os.path.join(ls, 'link-to-alpha'))
        # Same mtime everywhere so that ls -l is stable (it is the same files on both sides
        # anyway, but this also keeps the output independent of the time of day).
        for root, dirs, files in os.walk(ls):
            for n in dirs + files:
                os.utime(os.path.join(root, n), (1700000000, 1700000000), follow_symlinks=False)
        os.utime(ls, (1700000000, 1700000000))
        os.utime(d, (1700000000, 1700000000))      # ls -la shows '..'
        return d

    BUSYBOX_CASES = [
        ('sha256sum', ['sha256sum', 'big.bin'], None),
        ('md5sum', ['md5sum', 'big.bin', 'words.txt', 'small.txt'], None),
        ('sort', ['sort', 'words.txt'], None),
        ('sort-n', ['sort', '-n', 'nums.txt'], None),
        ('wc', ['wc', 'words.txt', 'table.txt', 'small.txt'], None),
        ('awk', ['awk', '{ a += $1; b += $2; c += $3 } END { print NR, a, b, c, a / NR }',
                 'table.txt'], None),
        ('sh-loop', ['sh', '-c', 'i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; echo $i'],
         None),
        ('echo', ['echo', 'hello', 'two  words', '-', 'x\\ty'], None),
        ('ls', ['ls', 'lsdir'], None),
        ('ls-la', ['ls', '-la', '--color=never', 'lsdir'], None),
        ('cat', ['cat', 'small.txt', 'words.txt'], None),
        ('cat-stdin', ['cat'], 'words.txt'),
        ('head', ['head', '-n', '7', 'words.txt'], None),
        ('head-c', ['head', '-c', '4097', 'big.bin'], None),
        ('tail', ['tail', '-n', '3', 'words.txt'], None),
    ]

    def busybox_cases(self):
        cases = [Case('busybox/' + n, lambda a=a, s=s: self.busybox_case(a, s))
                 for n, a, s in self.BUSYBOX_CASES]
        cases.append(Case('busybox/gzip-roundtrip', self.busybox_gzip_case))
        return cases

    def busybox_usable(self):
        def check():
            if not os.path.exists(self.busybox):
                return '%s not found (install busybox-static)' % self.busybox
            with open(self.busybox, 'rb') as f:
                problem = elfutil.check(f.read())
            if problem:
                return '%s is not a static x86-64/i386 ELF: %s' % (self.busybox, problem)
            return None
        return self.memo.get('busybox-usable', check)

    def busybox_case(self, args, stdin_name):
        why = self.busybox_usable()
        if why:
            return Outcome(skip=why)
        d = self.busybox_data()
        stdin = os.path.join(d, stdin_name) if stdin_name else None
        ref = run([self.busybox] + args, self.env_for(self.fresh_dir('ref-busybox')), d,
                  self.timeout, stdin)
        emu, report = self.emulate(self.busybox, args, 'busybox-' + args[0], cwd=d, stdin=stdin)
        cmds = ['reference: ' + ref.command_line(), 'mmuemu:    ' + emu.command_line()]
        problems = emulator_failure(emu)
        if not problems:
            problems = compare(ref, emu, 'native')
        if not problems and ref.status != 0:
            problems = ['busybox itself failed natively: %s' % ref.describe_status()]
        problems += self.report_problems(report)
        return Outcome(not problems, diag=cmds + problems if problems else [])

    def busybox_gzip_case(self):
        why = self.busybox_usable()
        if why:
            return Outcome(skip=why)
        d = self.busybox_data()
        src = os.path.join(d, 'mixed.bin')
        with open(src, 'rb') as f:
            original = f.read()
        ref = run([self.busybox, 'gzip', '-c', 'mixed.bin'], self.env_for(self.fresh_dir('gz')),
                  d, self.timeout)
        emu, report = self.emulate(self.busybox, ['gzip', '-c', 'mixed.bin'], 'busybox-gzip',
                                   cwd=d)
        cmds = ['reference: ' + ref.command_line(), 'mmuemu:    ' + emu.command_line()]
        problems = emulator_failure(emu) or compare(ref, emu, 'native')
        problems += self.report_problems(report)
        if problems:
            return Outcome(False, diag=cmds + problems)
        gz_dir = self.fresh_dir('gunzip')
        gz = os.path.join(gz_dir, 'mixed.bin.gz')
        with open(gz, 'wb') as f:
            f.write(emu.stdout)
        back, report = self.emulate(self.busybox, ['gunzip', '-c', gz], 'busybox-gunzip',
                                    cwd=gz_dir)
        cmds.append('mmuemu:    ' + back.command_line())
        problems = emulator_failure(back)
        if not problems and (back.status != 0 or back.stderr):
            problems.append('gunzip under mmuemu: %s, stderr %r' % (back.describe_status(),
                                                                     back.stderr[:300]))
        if not problems and back.stdout != original:
            problems += diff_bytes('gunzip output', original, back.stdout, 'original', 'mmuemu')
        problems += self.report_problems(report)
        if problems:
            return Outcome(False, diag=cmds + problems)
        return Outcome(True, notes=['%d bytes -> %d gzipped -> round trip identical' % (
            len(original), len(emu.stdout))])

    # -- malformed ELF files -------------------------------------------------------------------

    def malformed_cases(self):
        C = []

        def add(name, base, make, expect=None):
            C.append(Case('malformed/' + name,
                          lambda: self.malformed_case(name, base, make, expect)))

        def biggest_load(e):
            return max(e.loads(), key=lambda i: e.pget(i, 'p_filesz'))

        def patched(fn):
            def make(data):
                e = elfutil.Elf(data)
                fn(e)
                return bytes(e.data)
            return make

        def trunc_phdrs(data):
            e = elfutil.Elf(data)
            return data[:e.get('e_phoff') + e.get('e_phnum') * e.get('e_phentsize') - 8]

        def filesz_beyond_eof(e):
            i = biggest_load(e)
            e.pset(i, 'p_filesz', len(e.data))
            e.pset(i, 'p_memsz', max(e.pget(i, 'p_memsz'), len(e.data)))

        def filesz_gt_memsz(e):
            i = biggest_load(e)
            e.pset(i, 'p_memsz', e.pget(i, 'p_filesz') // 2)

        def overflow(e):
            i = e.loads()[0]
            low = e.pget(i, 'p_vaddr') & 0xfff
            e.pset(i, 'p_vaddr', (e.addr_max + 1) - 0x1000 + low)
            e.pset(i, 'p_paddr', (e.addr_max + 1) - 0x1000 + low)
            e.pset(i, 'p_memsz', max(e.pget(i, 'p_memsz'), 0x100000))

        def kernel_half(e):
            i = e.loads()[0]
            low = e.pget(i, 'p_vaddr') & 0xfff
            e.pset(i, 'p_vaddr', 0xffff800000000000 + low)
            e.pset(i, 'p_paddr', 0xffff800000000000 + low)

        def set_field(field, value):
            return patched(lambda e: e.set(field, value))

        def set_byte(off, value):
            return lambda data: data[:off] + bytes([value]) + data[off + 1:]

        add('empty-file', None, lambda _: b'')
        add('text-file', None, lambda _: b'This is a text file, not a program.\n' * 8)
        add('truncated-elf-header', 'x86_64', lambda d: d[:40])
        add('truncated-program-headers', 'x86_64', trunc_phdrs)
        add('phoff-beyond-eof', 'x86_64', patched(lambda e: e.set('e_phoff', len(e.data) + 4096)))
        add('huge-e_phnum', 'x86_64', set_field('e_phnum', 0xfff0))
        add('bad-e_phentsize', 'x86_64', set_field('e_phentsize', 20))
        add('arm-elf-32', 'i386', set_field('e_machine', 40))          # EM_ARM
        add('aarch64-elf-64', 'x86_64', set_field('e_machine', 183))   # EM_AARCH64
        add('class64-machine-i386', 'x86_64', set_field('e_machine', elfutil.EM_386))
        add('bad-elf-class', 'x86_64', set_byte(elfutil.EI_CLASS, 7))
        add('big-endian', 'x86_64', set_byte(elfutil.EI_DATA, 2))
        add('relocatable-object', 'x86_64', set_field('e_type', 1))    # ET_REL
        add('pt-load-beyond-eof', 'x86_64', patched(filesz_beyond_eof))
        add('file-truncated-in-segment', 'x86_64', lambda d: d[:len(d) // 2])
        add('filesz-greater-than-memsz', 'x86_64', patched(filesz_gt_memsz))
        add('vaddr-memsz-overflow-64', 'x86_64', patched(overflow))
        add('vaddr-memsz-overflow-32', 'i386', patched(overflow))
        add('segment-in-kernel-half', 'x86_64', patched(kernel_half))
        add('dynamic-binary', 'dynamic', None,
            'dynamically linked binaries are not supported yet')
        add('missing-file', 'missing', None)
        add('directory', 'directory', None)
        return C

    def malformed_case(self, name, base, make, expect):
        d = self.fresh_dir('malformed-' + name)
        path = os.path.join(d, name)
        if base == 'dynamic':
            path = None
            for cand in ('/bin/true', '/usr/bin/true', '/bin/ls', '/usr/bin/env'):
                try:
                    with open(cand, 'rb') as f:
                        data = f.read()
                    e = elfutil.Elf(data)
                    if any(e.pget(i, 'p_type') == elfutil.PT_INTERP for i in e.phdrs()):
                        path = cand
                        break
                except (OSError, ValueError, IndexError):
                    continue
            if path is None:
                return Outcome(skip='no dynamically linked binary found on this system')
        elif base == 'missing':
            path = os.path.join(d, 'does-not-exist')
        elif base == 'directory':
            path = d
        else:
            data = b''
            if base is not None:
                good = self.guest('hello', base)
                if not os.path.exists(good):
                    if base in REQUIRED_VARIANTS:
                        return Outcome(False, diag=['%s is missing (build the guests)' % good])
                    return Outcome(skip='%s not built' % os.path.basename(good))
                with open(good, 'rb') as f:
                    data = f.read()
            with open(path, 'wb') as f:
                f.write(make(data))
            os.chmod(path, 0o755)
        emu, _ = self.emulate(path, [], 'malformed-' + name)
        diag = ['mmuemu:    ' + emu.command_line()]
        problems = emulator_failure(emu)
        if not problems:
            if emu.status != 2:
                problems.append('expected exit status 2, got %s' % emu.describe_status())
            if emu.stdout:
                problems.append('expected nothing on stdout, got %r' % emu.stdout[:300])
            text = emu.stderr.decode('utf-8', 'backslashreplace')
            lines = text.rstrip('\n').split('\n')
            if not text.strip():
                problems.append('expected a one-line message on stderr, got nothing')
            elif len(lines) != 1:
                problems.append('expected a one-line message on stderr, got %d lines' %
                                len(lines))
            if 'killed by' in text:
                problems.append('mmuemu ran the file instead of rejecting it')
            if expect and expect not in text:
                problems.append('stderr does not contain "%s"' % expect)
            if not problems:
                return Outcome(True, notes=['stderr: ' + lines[0]])
        problems.append('stderr was: %r' % emu.stderr[:500])
        return Outcome(False, diag=diag + problems)

    # -- all -----------------------------------------------------------------------------------

    def all_cases(self):
        return self.guest_cases() + self.busybox_cases() + self.malformed_cases()


def matches(case_id, pattern):
    return (case_id == pattern or case_id.startswith(pattern.rstrip('/') + '/') or
            fnmatch.fnmatch(case_id, pattern))


def selected(case_id, only, exclude):
    if only and not any(matches(case_id, p) for p in only):
        return False
    return not any(matches(case_id, p) for p in exclude)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('--mmuemu', required=True, help='the mmuemu executable')
    ap.add_argument('--guests-dir', required=True, help='directory with the built guests')
    ap.add_argument('--only', action='append', default=[], metavar='NAME',
                    help='run only these groups/cases (repeatable; a group such as hello, '
                         'busybox or malformed, a case id, a prefix or a glob)')
    ap.add_argument('--exclude', action='append', default=[], metavar='NAME',
                    help='leave out these groups/cases (repeatable; same forms as --only)')
    ap.add_argument('--list', action='store_true', help='list the selected case ids and exit')
    ap.add_argument('--mmuemu-arg', action='append', default=[], metavar='ARG',
                    help='extra argument for `mmuemu run`, placed before --report (repeatable)')
    ap.add_argument('--busybox', default='/bin/busybox', help='static busybox (default %(default)s)')
    ap.add_argument('--qemu-i386', default=None, help='qemu-i386 for the i386 reference')
    ap.add_argument('--i386-reference', choices=('auto', 'native', 'qemu'), default='auto',
                    help='how to run i386 references (default: native if possible, else qemu)')
    ap.add_argument('--timeout', type=float, default=600,
                    help='seconds per process (default %(default)s)')
    ap.add_argument('-j', '--jobs', type=int, default=1, help='cases run in parallel')
    ap.add_argument('--no-report-check', action='store_true',
                    help='do not require mmuemu to write the --report file')
    ap.add_argument('--keep-tmp', action='store_true', help='keep the temporary directory')
    opts = ap.parse_args(argv[1:])

    os.umask(0o022)
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))

    h = Harness(opts)
    try:
        cases = [c for c in h.all_cases() if selected(c.id, opts.only, opts.exclude)]
        if opts.list:
            for c in cases:
                print(c.id)
            return 0
        if not cases:
            sys.stderr.write('no case matches %s\n' % ' '.join(opts.only))
            return 2
        if not os.path.exists(h.mmuemu):
            sys.stderr.write('warning: %s does not exist; every mmuemu run will fail\n' % h.mmuemu)

        print('TAP version 13')
        print('1..%d' % len(cases))
        print('# mmuemu: %s' % h.mmuemu)
        print('# guests: %s' % h.guests_dir)
        if any(c.id.split('/')[1].startswith('i386') or '/all-variants/' in c.id
               for c in cases if not c.id.startswith(('busybox/', 'malformed/'))):
            prefix, why = h.i386_reference()
            print('# i386 reference: %s' % why)
        sys.stdout.flush()

        def run_case(c):
            try:
                return c.fn()
            except Exception as e:  # a harness bug must not hide the other cases
                import traceback
                return Outcome(False, diag=['harness error: %r' % e] +
                               traceback.format_exc().splitlines())

        counts = {'pass': 0, 'fail': 0, 'skip': 0}
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
            for n, (c, o) in enumerate(zip(cases, ex.map(run_case, cases)), 1):
                if o.skip:
                    print('ok %d - %s # SKIP %s' % (n, c.id, o.skip))
                    counts['skip'] += 1
                elif o.ok:
                    print('ok %d - %s' % (n, c.id))
                    counts['pass'] += 1
                else:
                    print('not ok %d - %s' % (n, c.id))
                    counts['fail'] += 1
                for line in o.diag + o.notes:
                    print('#   ' + line)
                sys.stdout.flush()
        print('# %d passed, %d failed, %d skipped' % (counts['pass'], counts['fail'],
                                                       counts['skip']))
        return 1 if counts['fail'] else 0
    finally:
        if opts.keep_tmp:
            print('# temporary files kept in %s' % h.tmp_root)
        else:
            shutil.rmtree(h.tmp_root, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
