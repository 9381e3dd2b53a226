#!/bin/bash
# Builds tcpstate twice (plain, and with ASan+UBSan) and runs every test in both:
# cmocka unit tests and the integration tests (root: they make network namespaces).
# TCPSTATE_TEST_PACKAGE=1 also runs the Debian package test (tests/package).
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

# The Debian package test takes minutes (a package build and a fresh Debian
# root from the mirror): only on request.
package=""
if [ "${TCPSTATE_TEST_PACKAGE:-0}" = 1 ]; then
	if tests/package/test_package.sh; then package="package test: passed"; else package="package test: FAILED"; status=1; fi
fi

# One closing line over both runs.
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        res = r.get("result", "FAIL")
        counts["OK" if res in ("OK", "EXPECTEDFAIL") else "SKIP" if res == "SKIP" else "FAIL"] += 1
print(f"tests: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
[ -z "$package" ] || echo "$package"
exit $status
