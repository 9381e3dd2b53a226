#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The library's boundaries, checked on the build (see ARCHITECTURE.md).

1. Every global symbol named ts_* that a subsystem library defines is declared
   in a public header (include/tcpstate/*.h): ts_ is the public prefix, and a
   function that is not public has a subsystem's own prefix.
2. The CLI (src/) is compiled against include/ and src/ only: no -I of lib/ or
   of the top folder, from which a private header could be reached.
3. No file of src/ names a header of lib/ by a relative path.

Usage: check_boundaries.py SOURCE_ROOT BUILD_ROOT LIB.a...
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys


def public_names(source_root):
    text = ""
    for path in sorted(glob.glob(os.path.join(source_root, "include", "tcpstate", "*.h"))):
        with open(path, encoding="utf-8") as f:
            text += f.read()
    return set(re.findall(r"\b(ts_\w+)\b", text))


def check_symbols(source_root, libs, failures):
    declared = public_names(source_root)
    for lib in libs:
        out = subprocess.run(["nm", "-g", "--defined-only", lib], check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[2].startswith("ts_") and fields[2] not in declared:
                failures.append(f"{os.path.basename(lib)}: {fields[2]} ({fields[1]}) is exported "
                                "but declared in no include/tcpstate/*.h")


def check_cli_includes(source_root, build_root, failures):
    src_dir = os.path.realpath(os.path.join(source_root, "src"))
    allowed = {os.path.realpath(os.path.join(source_root, d)) for d in ("include", "src")}
    with open(os.path.join(build_root, "compile_commands.json"), encoding="utf-8") as f:
        commands = json.load(f)
    seen = 0
    for entry in commands:
        path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
        if os.path.dirname(path) != src_dir or "tcpstate.p" not in entry.get("output", entry["command"]):
            continue
        seen += 1
        for arg in shlex.split(entry["command"]):
            if not arg.startswith("-I"):
                continue
            inc = os.path.realpath(os.path.join(entry["directory"], arg[2:]))
            # Build-tree folders hold generated files only; source folders must be allowed ones.
            if inc.startswith(os.path.realpath(build_root)):
                continue
            if inc not in allowed and not inc.startswith("/usr/"):
                failures.append(f"{entry['file']}: compiled with -I{arg[2:]} ({inc}): "
                                "src/ may see include/ and src/ only")
    if seen == 0:
        failures.append("compile_commands.json lists no file of src/ built into tcpstate")
    for path in sorted(glob.glob(os.path.join(src_dir, "*.[ch]"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if m and (".." in m.group(1) or m.group(1).startswith("lib/")):
                    failures.append(f"{os.path.relpath(path, source_root)}:{n}: includes "
                                    f"{m.group(1)}: src/ may include public headers only")


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    source_root, build_root, libs = sys.argv[1], sys.argv[2], sys.argv[3:]
    failures = []
    check_symbols(source_root, libs, failures)
    check_cli_includes(source_root, build_root, failures)
    for f in failures:
        print(f"FAIL {f}")
    print(f"boundaries: {len(libs)} libraries, {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
