# SPDX-License-Identifier: MIT
"""Every verb's --help lists its exit statuses; the demo's length is stated in
its own help only; `tcpstate --list-states` gives words --state accepts."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, tcpstate_path  # noqa: E402

VERBS = ["doctor", "summary", "list", "explain", "close", "tune", "lab", "demo", "trace",
         "top", "exporter", "metrics", "check"]


def run(*args):
    return subprocess.run([tcpstate_path(), *args], capture_output=True, text=True, timeout=30)


def main():
    top = run("--help")
    check(top.returncode == 0, f"tcpstate --help exit {top.returncode}")
    listed = re.findall(r"^  ([a-z]+) ", top.stdout.split("Verbs:")[1].split("\n\n")[0], re.M)
    check(sorted(listed) == sorted(VERBS), f"--help lists the verbs {VERBS}, got {listed}")
    check("Exit status:" in top.stdout, "tcpstate --help lists exit statuses")

    for verb in VERBS:
        r = run(verb, "--help")
        check(r.returncode == 0, f"{verb} --help exit {r.returncode}")
        m = re.search(r"^Exit status: (.*?)(\n\n|\Z)", r.stdout, re.M | re.S)
        check(m is not None, f"{verb} --help has an 'Exit status:' paragraph")
        if m:
            text = " ".join(m.group(1).split())
            for code in ("0", "1", "2"):
                check(re.search(rf"\b{code} ", text) is not None,
                      f"{verb} --help exit statuses name {code}: {text!r}")
    check(re.search(r"\b3 ", run("doctor", "--help").stdout.split("Exit status:")[1]) is not None,
          "doctor --help names exit status 3")
    check(re.search(r"\b4 ", run("close", "--help").stdout.split("Exit status:")[1]) is not None,
          "close --help names exit status 4")

    # The demo's length: a number in the demo's help, none in the verb list
    # (it was "a minute" there, "under a minute" in the demo help).
    demo = run("demo", "--help").stdout
    check(re.search(r"takes about N \+ 2\.5 seconds \(5\.5 s by default\)", " ".join(demo.split())) is not None,
          "demo --help states its length")
    demo_line = next((ln for ln in top.stdout.splitlines() if ln.startswith("  demo ")), "")
    check(not re.search(r"minute|second", demo_line), f"the verb list states no other length: {demo_line!r}")

    # --list-states: the 13 states and the groups, each accepted by the parser.
    r = run("--list-states")
    words = r.stdout.split()
    check(r.returncode == 0 and len(words) == len(set(words)) and len(words) >= 13 + 7,
          f"--list-states gives 13 states and the groups, once each: {words}")
    for w in ("close-wait", "CLOSING", "closing", "syn-received", "all", "unconnected"):
        check(w in words, f"--list-states includes {w}")
    bad = [w for w in words if run("explain", w, "--json").returncode != 0]
    check(not bad, f"explain accepts every listed state: {bad} refused")

    finish("help")


if __name__ == "__main__":
    main()
