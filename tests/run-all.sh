#!/bin/bash
# Builds tcpstate twice (plain, and with ASan+UBSan) and runs every test in both:
# cmocka unit tests and the integration tests (root: they make network namespaces).
# Then builds the libFuzzer targets with clang (build-fuzz/) and runs each for a
# few seconds from its seed corpus (the "fuzz" suite; see README, Fuzzing).
# The Debian package test (tests/package) runs too; TCPSTATE_TEST_PACKAGE=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

setup() { # dir [meson options]; quiet unless it fails
	local dir=$1 out; shift
	if [ -f "$dir/build.ninja" ]; then
		out=$(meson setup --reconfigure "$dir" "$@" 2>&1) || { echo "$out"; return 1; }
	else
		out=$(meson setup "$dir" "$@" 2>&1) || { echo "$out"; return 1; }
	fi
	out=$(meson compile -C "$dir" 2>&1) || { echo "$out" | tail -40; echo "run-all: build of $dir failed" >&2; return 1; }
}

status=0
setup build
meson test -C build --print-errorlogs --num-processes 2 || status=1

setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 || status=1

# Only the fuzz targets are built there: the smoke run needs nothing else.
fuzz_setup() {
	local out
	if [ -f build-fuzz/build.ninja ]; then
		out=$(CC=clang meson setup --reconfigure build-fuzz 2>&1) || { echo "$out"; return 1; }
	else
		out=$(CC=clang meson setup build-fuzz -Dfuzz=true -Dbpf=disabled \
			-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug 2>&1) ||
			{ echo "$out"; return 1; }
	fi
	out=$(meson compile -C build-fuzz fuzz_sysctl_conf fuzz_diag fuzz_procnet fuzz_filter fuzz_sock_iter fuzz_webconfig 2>&1) ||
		{ echo "$out" | tail -40; echo "run-all: build of build-fuzz failed" >&2; return 1; }
}
logs="build/meson-logs/testlog.json build-asan/meson-logs/testlog.json"
if fuzz_setup; then
	meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs --num-processes 2 || status=1
	logs="$logs build-fuzz/meson-logs/testlog.json"
else
	status=1
fi

# The Debian package test: a package build, lintian, and the .deb installed in a
# fresh Debian 12 root made from the mirror (~1.5 min). Counted in the closing
# line; TCPSTATE_TEST_PACKAGE=0 skips it (counted as skipped).
pkglog=$(mktemp)
trap 'rm -f "$pkglog"' EXIT
if [ "${TCPSTATE_TEST_PACKAGE:-1}" = 0 ]; then
	echo '{"name": "package", "result": "SKIP"}' >"$pkglog"
elif tests/package/test_package.sh; then
	echo '{"name": "package", "result": "OK"}' >"$pkglog"
else
	echo '{"name": "package", "result": "FAIL"}' >"$pkglog"
	status=1
fi
logs="$logs $pkglog"

# One closing line over every run.
python3 - $logs <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        res = r.get("result", "FAIL")
        counts["OK" if res in ("OK", "EXPECTEDFAIL") else "SKIP" if res == "SKIP" else "FAIL"] += 1
print(f"tests: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit $status
