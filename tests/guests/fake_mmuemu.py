#!/usr/bin/env python3
"""A stand-in for mmuemu that tests the guest-test harness itself.

    fake_mmuemu.py run [--report FILE] [OPTIONS...] -- PROG [ARGS...]

It behaves as mmuemu is specified to at its edges, without emulating anything:
  * checks PROG with elfutil.check() and, on a problem, prints one line
    "mmuemu: PROG: PROBLEM" to stderr and exits 2;
  * otherwise runs PROG natively (i386: natively if the kernel can, else under qemu-i386),
    passing stdin through and copying the program's stdout and stderr;
  * when the program dies by a signal, prints "killed by SIGxxx at 0xADDR (pc 0xPC)" and exits
    128 + signal; the address comes from re-running the program under qemu with its strace log
    (PC is reported equal to the address: the fake cannot know it);
  * writes a small JSON report to FILE.
MMUEMU_FAKE_CORRUPT=stdout|stderr|status deliberately corrupts the result, to prove that the
harness notices (used by the meson test 'harness-detects-mismatch').
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elfutil  # noqa: E402


def die(prog, msg):
    sys.stderr.write('mmuemu: %s: %s\n' % (prog, msg))
    sys.exit(2)


def fault_address(cmd_qemu, env):
    """Re-run under qemu with -d strace and return the si_addr of the fatal signal, or None."""
    with tempfile.TemporaryDirectory(prefix='fake-mmuemu-') as d:
        log = os.path.join(d, 'log')
        subprocess.run(cmd_qemu[:1] + ['-d', 'strace', '-D', log] + cmd_qemu[1:],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
        try:
            text = open(log, errors='replace').read()
        except OSError:
            return None
    m = re.findall(r'si_addr=(0x[0-9a-fA-F]+)', text)
    return int(m[-1], 16) if m else None


def main(argv):
    if len(argv) < 2 or argv[1] != 'run':
        sys.stderr.write('usage: fake_mmuemu.py run [--report FILE] -- PROG [ARGS...]\n')
        return 2
    rest = argv[2:]
    report = None
    while rest and rest[0] != '--':
        if rest[0] == '--report' and len(rest) > 1:
            report = rest[1]
            rest = rest[2:]
        elif rest[0].startswith('--report='):
            report = rest[0].split('=', 1)[1]
            rest = rest[1:]
        else:
            rest = rest[1:]
    if not rest or len(rest) < 2:
        sys.stderr.write('mmuemu: no program given\n')
        return 2
    prog, args = rest[1], rest[2:]
    try:
        with open(prog, 'rb') as f:
            data = f.read()
    except IsADirectoryError:
        die(prog, 'is a directory')
    except OSError as e:
        die(prog, 'cannot open: %s' % e.strerror)
    problem = elfutil.check(data)
    if problem:
        die(prog, problem)
    is64 = data[elfutil.EI_CLASS] == elfutil.ELFCLASS64

    qemu = 'qemu-x86_64' if is64 else 'qemu-i386'
    cmd = [prog] + args
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError:
        if not shutil.which(qemu):
            die(prog, 'cannot run it natively and %s is not installed' % qemu)
        cmd = [qemu, prog] + args
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    if cmd[0] == qemu:
        err = re.sub(rb'(?m)^qemu: uncaught target signal .*\n', b'', err)

    corrupt = os.environ.get('MMUEMU_FAKE_CORRUPT', '')
    if corrupt == 'stdout':
        out += b'corrupted by MMUEMU_FAKE_CORRUPT\n'
    elif corrupt == 'stderr':
        err += b'corrupted by MMUEMU_FAKE_CORRUPT\n'
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.stderr.buffer.write(err)
    status = p.returncode
    if status < 0:
        sig = -status
        name = signal.Signals(sig).name
        addr = None
        if shutil.which(qemu):
            addr = fault_address([qemu, prog] + args, os.environ.copy())
        a = '0x%x' % addr if addr is not None else '0x0'
        sys.stderr.write('killed by %s at %s (pc %s)\n' % (name, a, a))
        status = 128 + sig
    sys.stderr.flush()
    if corrupt == 'status':
        status ^= 1
    if report:
        with open(report, 'w') as f:
            json.dump({'fake': True, 'program': prog, 'exit_status': status}, f)
            f.write('\n')
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
