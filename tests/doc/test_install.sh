#!/bin/bash
# SPDX-License-Identifier: MIT
# 'meson install --destdir' stages the binary, every man page and both
# completion files, and nothing outside the prefix.
# Usage: test_install.sh BUILDDIR PREFIX MANDIR BASHCOMPDIR ZSHCOMPDIR MAN(true|false)
set -uo pipefail
build=$1 prefix=$2 mandir=$3 bashdir=$4 zshdir=$5 man=$6
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }

out=$(meson install -C "$build" --destdir "$dest" --no-rebuild 2>&1) || { echo "$out"; fail "meson install --destdir failed"; }
want=("$(abs bin)/tcpstate")
[ "$bashdir" != no ] && want+=("$(abs "$bashdir")/tcpstate")
[ "$zshdir" != no ] && want+=("$(abs "$zshdir")/_tcpstate")
if [ "$man" = true ]; then
	for p in tcpstate tcpstate-doctor tcpstate-summary tcpstate-list tcpstate-explain \
		tcpstate-close tcpstate-tune tcpstate-lab tcpstate-demo tcpstate-trace tcpstate-top; do
		want+=("$(abs "$mandir")/man8/$p.8")
	done
fi
for f in "${want[@]}"; do
	[ -f "$dest$f" ] || fail "not installed: $f"
done
(cd "$dest" && find . -type f | sed 's|^\.||' | sort) >"$dest.list"
echo "installed:"; sed 's/^/  /' "$dest.list"
n=$(wc -l <"$dest.list")
[ "$n" = "${#want[@]}" ] || fail "installed $n files, expected ${#want[@]}"
rm -f "$dest.list"
[ $fails = 0 ] || exit 1
echo "test_install: all checks passed"
