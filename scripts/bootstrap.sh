#!/bin/sh
# Installs what building and testing mmuemu needs, and nothing when it is all there.
#
#  * Debian packages (apt-get; needs root or sudo the first time).
#  * Unicorn >= 2.1 and Capstone >= 5: the system's when new enough, otherwise Debian 13
#    ("trixie") packages fetched with apt-get download from the mirror this system's apt already
#    uses, unpacked with dpkg -x into .deps/ (git-ignored). Their pkg-config files hard-code
#    libdir/includedir, so both are rewritten to point into .deps/.
#
# Prints the pkg-config path meson must use on its last line of stdout when called with
# --print-pkg-config-path. Quiet when nothing needs doing.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPS="$ROOT/.deps"
PREFIX="$DEPS/prefix"
QUIET_APT="-qq -o=Dpkg::Use-Pty=0"

PACKAGES="musl-tools meson ninja-build pkg-config gcc gcc-multilib libc6-dev libcriterion-dev \
libinih-dev libjson-c-dev libzstd-dev busybox-static qemu-user python3 dpkg-dev file gnuplot-nox hyperfine"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo "$@"
	else die "need root (or sudo) to run: $*"
	fi
}

# --- 1. Debian packages -----------------------------------------------------------------------
missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	say "installing Debian packages:$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get $QUIET_APT update >&2 || die "apt-get update failed"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get $QUIET_APT install -y $missing >/dev/null \
		|| die "apt-get install failed for:$missing"
fi

# --- 2. Unicorn >= 2.1 and Capstone >= 5 ------------------------------------------------------
system_ok() {
	pkg-config --atleast-version=2.1 unicorn 2>/dev/null && pkg-config --atleast-version=5 capstone 2>/dev/null
}
local_ok() {
	[ -f "$PREFIX/pc/unicorn.pc" ] && [ -f "$PREFIX/pc/capstone.pc" ] &&
	PKG_CONFIG_PATH="$PREFIX/pc" pkg-config --atleast-version=2.1 unicorn 2>/dev/null &&
	PKG_CONFIG_PATH="$PREFIX/pc" pkg-config --atleast-version=5 capstone 2>/dev/null
}

fetch_trixie() {
	# The mirror: the URI this system's apt uses for its own Debian release.
	mirror=$(apt-get indextargets --format '$(LABEL) $(REPO_URI)' 2>/dev/null |
		awk '$1 == "Debian" { print $2; exit }')
	[ -n "$mirror" ] || die "could not find a Debian mirror in the apt configuration (apt-get indextargets)"
	say "fetching Unicorn 2.1 and Capstone 5 (Debian 13 packages) from $mirror into .deps/"
	apt_dir="$DEPS/apt"
	rm -rf "$apt_dir" "$PREFIX"
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs" "$PREFIX"
	printf 'deb [trusted=yes] %s trixie main\n' "$mirror" > "$apt_dir/sources.list"
	: > "$apt_dir/status"
	set -- -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache::Archives="$apt_dir/archives" \
		-o Dir::State::Status="$apt_dir/status" -o Dir::Cache="$apt_dir" \
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root -o APT::Get::List-Cleanup=0
	apt-get $QUIET_APT "$@" update >&2 || die "apt-get update of the trixie index failed"
	(cd "$apt_dir/debs" && apt-get $QUIET_APT "$@" download \
		libunicorn2t64 libunicorn-dev libcapstone5 libcapstone-dev >&2) \
		|| die "apt-get download of libunicorn-dev/libcapstone-dev (trixie) failed"
	for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$PREFIX"; done
	mkdir -p "$PREFIX/pc"
	libdir="$PREFIX/usr/lib/x86_64-linux-gnu"
	for name in unicorn capstone; do
		pc="$libdir/pkgconfig/$name.pc"
		[ -f "$pc" ] || die "$name.pc missing from the downloaded packages"
		# Debian's .pc files hard-code libdir and includedir: rewrite both.
		sed -e "s|^prefix=.*|prefix=$PREFIX/usr|" \
		    -e "s|^exec_prefix=.*|exec_prefix=$PREFIX/usr|" \
		    -e "s|^libdir=.*|libdir=$libdir|" \
		    -e "s|^includedir=.*|includedir=$PREFIX/usr/include|" "$pc" > "$PREFIX/pc/$name.pc"
	done
	rm -rf "$apt_dir/lists" "$apt_dir/archives"
	local_ok || die "the unpacked Unicorn/Capstone are not usable (see $PREFIX/pc)"
}

if system_ok; then
	pcpath=""
elif local_ok; then
	pcpath="$PREFIX/pc"
else
	fetch_trixie
	pcpath="$PREFIX/pc"
fi

if [ "${1:-}" = "--print-pkg-config-path" ]; then
	printf '%s\n' "$pcpath"
fi
