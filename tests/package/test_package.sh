#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian package test (minutes; run by tests/run-all.sh when
# TCPSTATE_TEST_PACKAGE=1): builds the .deb with dpkg-buildpackage in a copy of
# the tree, runs lintian (no errors allowed), checks that debian/changelog and
# meson.build agree on the version, then installs the .deb in a fresh Debian 12
# root made with mmdebstrap and runs 'tcpstate --version', 'man -w tcpstate',
# the completion files' presence and 'tcpstate demo' there. Prints the
# package's installed size and runtime dependencies.
#
# Needs root, dpkg-dev, debhelper, lintian, mmdebstrap and a reachable Debian
# mirror (apt's). TCPSTATE_PACKAGE_HOST=1 installs on this machine instead of a
# fresh root (dpkg -i, checks, dpkg -r), refusing when tcpstate is already
# installed here. TCPSTATE_PACKAGE_KEEP=1 keeps the work directory.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
t0=$(date +%s)
step() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }
die() { echo "test_package: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
for tool in dpkg-buildpackage dh lintian dpkg-parsechangelog; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done

work=$(mktemp -d /tmp/tcpstate-package.XXXXXX)
root=$work/root
cleanup() { # the checks' mounts lived in a private mount namespace: none is left
	if [ "${TCPSTATE_PACKAGE_KEEP:-0}" = 1 ]; then
		echo "kept $work"
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT

# 1. A copy of the tree (tracked and new files, not ignored ones): the package
# build never writes into the checkout.
step "copying the tree to $work/tcpstate"
mkdir -p "$work/tcpstate"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -xf - -C "$work/tcpstate"

# 2. Versions agree.
meson_version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$src/meson.build" | head -1)
deb_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
[ "$meson_version" = "$deb_version" ] ||
	die "debian/changelog says $deb_version, meson.build says $meson_version"
step "version $deb_version in debian/changelog and meson.build"

# 3. Build.
step "dpkg-buildpackage -b -us -uc"
(cd "$work/tcpstate" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 ||
	{ tail -60 "$work/build.log"; die "dpkg-buildpackage failed (log above)"; }
arch=$(dpkg --print-architecture)
deb=$work/tcpstate_${deb_version}_${arch}.deb
changes=$work/tcpstate_${deb_version}_${arch}.changes
[ -f "$deb" ] || die "no $deb"
grep -E "^(Ok|Fail|Skipped):" "$work/build.log" | sed 's/^/   package build tests: /' || true

# 4. lintian: no errors (warnings and infos are printed).
step "lintian"
lintian --info --display-info --fail-on error "$changes" | tee "$work/lintian.log" ||
	die "lintian reports errors"
grep -q "^E:" "$work/lintian.log" && die "lintian reports errors"

# 5. What is in it.
step "contents"
dpkg-deb -c "$deb" | awk '{print "   " $NF}' | grep -v '/$'
size=$(dpkg-deb -f "$deb" Installed-Size)
echo "   Installed-Size: $size KiB ($(stat -c %s "$deb") bytes as a .deb)"
echo "   Depends: $(dpkg-deb -f "$deb" Depends)"
for f in ./usr/bin/tcpstate ./usr/share/man/man8/tcpstate.8.gz ./usr/share/man/man8/tcpstate-close.8.gz \
	./usr/share/bash-completion/completions/tcpstate ./usr/share/zsh/vendor-completions/_tcpstate \
	./usr/share/doc/tcpstate/copyright; do
	dpkg-deb -c "$deb" | awk '{print $NF}' | grep -qx "$f" || die "the package lacks $f"
done

# 6. Install and run it.
checks='set -e
	tcpstate --version
	man -w tcpstate
	man -w tcpstate-close
	test -f /usr/share/bash-completion/completions/tcpstate
	tcpstate demo'
if [ "${TCPSTATE_PACKAGE_HOST:-0}" = 1 ]; then
	step "installing on this machine (dpkg -i), the build tree removed first"
	dpkg -s tcpstate >/dev/null 2>&1 && die "tcpstate is already installed here; not touching it"
	rm -rf "$work/tcpstate"
	dpkg -i "$deb" || { apt-get install -f -y; }
	out=$(cd / && PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c "$checks" 2>&1) || { echo "$out"; dpkg -r tcpstate; die "checks failed on the host"; }
	echo "$out"
	dpkg -r tcpstate
else
	command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (or set TCPSTATE_PACKAGE_HOST=1)"
	step "mmdebstrap bookworm (apt, man-db) and apt-get install ./$(basename "$deb")"
	cp "$deb" "$work/tcpstate.deb"
	mmdebstrap --variant=apt --include=man-db bookworm "$root" \
		--customize-hook='copy-in '"$work"'/tcpstate.deb /tmp' \
		--customize-hook='chroot "$1" apt-get install -y -q /tmp/tcpstate.deb' \
		>"$work/mmdebstrap.log" 2>&1 ||
		{ tail -40 "$work/mmdebstrap.log"; die "mmdebstrap failed (no mirror? set TCPSTATE_PACKAGE_HOST=1)"; }
	grep -E "^(Setting up|The following NEW)" "$work/mmdebstrap.log" | grep -i tcpstate || true
	step "running the checks inside the fresh root"
	# A private mount namespace: proc, sys, dev and a /run for the lab's
	# namespaces are mounted for the checks and vanish with it.
	out=$(unshare --mount --propagation private sh -c '
		set -e
		mount -t proc proc "$1/proc"
		mount --rbind /sys "$1/sys"
		mount --rbind /dev "$1/dev"
		mount -t tmpfs tmpfs "$1/run"
		exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c "$2"
	' sh "$root" "$checks" 2>&1) || { echo "$out"; die "checks failed in the fresh root"; }
	echo "$out"
fi
echo "$out" | grep -q "^tcpstate $deb_version" || die "tcpstate --version does not say $deb_version"
echo "$out" | grep -q "Cleaned up" || die "tcpstate demo did not finish"

step "done: package tcpstate $deb_version, Installed-Size $size KiB, Depends: $(dpkg-deb -f "$deb" Depends)"
echo "test_package: all checks passed in $(( $(date +%s) - t0 )) s"
