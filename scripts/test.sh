#!/bin/sh
# One command for a newcomer and for CI: installs what is needed, then builds and runs every test
# twice — a release build (build/) and an AddressSanitizer + UndefinedBehaviorSanitizer build
# (build-asan/). Unit tests (Criterion), ELF-loader tests, guest-vs-native comparisons and
# busybox tests all run in both.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/build.sh" build
meson test -C build --print-errorlogs --num-processes "$(nproc)"
"$ROOT/scripts/build.sh" build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=suppressions="$ROOT/tests/lsan.supp":print_suppressions=0 \
	meson test -C build-asan --print-errorlogs --num-processes "$(nproc)" --timeout-multiplier 4
echo "test.sh: all tests passed (release and ASan+UBSan builds)"
