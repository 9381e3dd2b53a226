#!/bin/bash
# SPDX-License-Identifier: MIT
# 'meson install --destdir' stages the binary, every man page of doc/, both
# completion files, the systemd units and the contrib files, and nothing
# outside the prefix.
# Usage: test_install.sh BUILDDIR PREFIX MANDIR BASHCOMPDIR ZSHCOMPDIR MAN(true|false)
#        SYSTEMDUNITDIR DATADIR
set -uo pipefail
build=$1 prefix=$2 mandir=$3 bashdir=$4 zshdir=$5 man=$6 unitdir=$7 datadir=$8
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
	# Every page written in doc/ (NAME.8.scd) is installed.
	docdir=$(dirname "$0")/../../doc
	for src in "$docdir"/*.8.scd; do
		p=$(basename "$src" .8.scd)
		want+=("$(abs "$mandir")/man8/$p.8")
	done
fi
# The systemd units of contrib/systemd, and the rules and dashboard of contrib/.
srcroot=$(dirname "$0")/../..
if [ "$unitdir" != no ]; then
	for src in "$srcroot"/contrib/systemd/*.in; do
		want+=("$(abs "$unitdir")/$(basename "$src" .in)")
	done
fi
for src in "$srcroot"/contrib/prometheus/*.yml "$srcroot"/contrib/grafana/*.json; do
	sub=$(basename "$(dirname "$src")")
	want+=("$(abs "$datadir")/tcpstate/$sub/$(basename "$src")")
done
# A unit names the installed binary.
if [ "$unitdir" != no ]; then
	grep -q "^ExecStart=$(abs bin)/tcpstate " "$dest$(abs "$unitdir")/tcpstate-exporter.service" ||
		fail "tcpstate-exporter.service does not run $(abs bin)/tcpstate"
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
