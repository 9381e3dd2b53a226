# SPDX-License-Identifier: MIT
"""The man pages render without warnings (man --warnings, groff -ww), there is
one per verb, and every option a verb's --help lists is documented in its page
(or, for the shared selection options, in tcpstate(8))."""

import os
import re
import subprocess
import sys

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print(f"FAIL: {msg}", file=sys.stderr)
    return cond


def render(page):
    """The page as man shows it (80 columns), and what man and groff warn."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="0")
    r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env=env)
    warn = r.stderr.strip()
    g = subprocess.run(["groff", "-ww", "-z", "-t", "-man", "-Tutf8", page],
                       capture_output=True, text=True)
    return r.returncode, re.sub(r".\x08", "", r.stdout), (warn + "\n" + g.stderr.strip()).strip()


def main():
    tcpstate, mandir = os.environ.get("TCPSTATE"), sys.argv[1] if len(sys.argv) > 1 else None
    if not tcpstate or not mandir:
        print("FAIL: TCPSTATE or the man directory is not given: run through meson test",
              file=sys.stderr)
        return 1
    # A missing tool fails (scripts/install-deps.sh installs man-db and groff-base):
    # a skip would hide every regression in the pages.
    for tool in ("man", "groff"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            print(f"FAIL: {tool} is not installed: run scripts/install-deps.sh", file=sys.stderr)
            return 1

    top = subprocess.run([tcpstate, "--help"], capture_output=True, text=True).stdout
    verbs = re.findall(r"^  ([a-z]+) ", top.split("Verbs:")[1].split("\n\n")[0], re.M)
    pages = {"tcpstate": os.path.join(mandir, "tcpstate.8")}
    pages.update({v: os.path.join(mandir, f"tcpstate-{v}.8") for v in verbs})

    text = {}
    for name, page in pages.items():
        if not check(os.path.exists(page), f"{page} exists"):
            continue
        rc, out, warn = render(page)
        check(rc == 0, f"man -l {page} exit {rc}")
        check(warn == "", f"{os.path.basename(page)} renders without warnings: {warn}")
        check(re.search(r"^EXIT STATUS", out, re.M) is not None or name == "tcpstate",
              f"{os.path.basename(page)} has EXIT STATUS")
        text[name] = out

    # Shared selection options are documented once, in tcpstate(8).
    shared = set(re.findall(r"--[a-z][a-z0-9-]+", text.get("tcpstate", "").split("SELECTING SOCKETS")[-1]
                            .split("DIFFERENCES FROM")[0]))
    check(len(shared) >= 10, f"tcpstate(8) documents the selection options: {sorted(shared)}")
    for verb in verbs:
        h = subprocess.run([tcpstate, verb, "--help"], capture_output=True, text=True).stdout
        opts = set(re.findall(r"^ {1,8}(?:-[a-zA-Z], )?(--[a-z][a-z0-9.-]+)", h, re.M)) - {"--help"}
        page = text.get(verb, "")
        missing = sorted(o for o in opts if o not in page and o not in shared)
        check(not missing, f"tcpstate-{verb}(8) documents every option of '{verb} --help': missing {missing}")
    for opt in ("--version", "--list-states"):
        check(opt in text.get("tcpstate", ""), f"tcpstate(8) documents {opt}")
    # The three jobs, as examples.
    ex = text.get("tcpstate", "").split("EXAMPLES")[-1]
    for job in ("--state close-wait", "--interval", "close --pid"):
        check(job in ex, f"tcpstate(8) EXAMPLES show '{job}'")

    if failures:
        return 1
    print(f"test_man: {len(text)} pages render cleanly and document every option")
    return 0


if __name__ == "__main__":
    sys.exit(main())
