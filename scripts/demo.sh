#!/bin/sh
# One command for a newcomer: installs what is needed, builds mmuemu (release) and runs the
# default guest — a random pointer chase over a 64 MiB working set, the workload that stresses
# address translation — printing the guest's output and then mmuemu's report.
# Extra arguments are passed to `mmuemu run` (e.g. --paging 5level, --report-format json).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/build.sh" build
cd "$ROOT"
echo "+ build/emu/mmuemu run $* -- build/guests/ptrchase-x86_64 67108864 2000000 1" >&2
exec build/emu/mmuemu run "$@" -- build/guests/ptrchase-x86_64 67108864 2000000 1
