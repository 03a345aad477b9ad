#!/bin/sh
# Configures (once) and builds one build directory. Usage: scripts/build.sh DIR [meson options...]
# Used by demo.sh and test.sh; installs what is missing first (bootstrap.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$1
shift
PCPATH=$("$ROOT/scripts/bootstrap.sh" --print-pkg-config-path)
cd "$ROOT"
if [ ! -f "$DIR/build.ninja" ]; then
	meson setup "$DIR" -Dpkg_config_path="$PCPATH" "$@" >"$DIR.setup.log" 2>&1 || {
		cat "$DIR.setup.log" >&2
		echo "build.sh: meson setup $DIR failed (log above)" >&2
		exit 1
	}
	rm -f "$DIR.setup.log"
fi
ninja -C "$DIR" >"$DIR.ninja.log" 2>&1 || {
	cat "$DIR.ninja.log" >&2
	echo "build.sh: building $DIR failed (log above)" >&2
	exit 1
}
rm -f "$DIR.ninja.log"
