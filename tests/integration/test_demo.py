# SPDX-License-Identifier: MIT
"""`tcpstate demo`: the lab with a CLOSE_WAIT leak among healthy sockets,
then the doctor naming the leaking process, then nothing left behind."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, netns_exists, pid_alive, skip_unless_root, tcpstate_path  # noqa: E402


def main():
    skip_unless_root()
    r = subprocess.run([tcpstate_path(), "demo"], capture_output=True, text=True, timeout=120)
    out = r.stdout
    print(out)
    print(r.stderr, file=sys.stderr)
    check(r.returncode == 0, f"demo exit {r.returncode}")
    m = re.search(r"Namespace (tslab-[0-9a-f]+) is ready: \d+ healthy sockets, leaky server pid (\d+)", out)
    check(m is not None, "demo names its namespace and the leaky server")
    if m:
        ns, pid = m.group(1), int(m.group(2))
        check(re.search(rf"\[CRITICAL\] CLOSE_WAIT growing.*\n\s+process\s+pid {pid} ", out) is not None,
              "the doctor reports the growing leak of the leaky server")
        check(re.search(rf"CLOSE_WAIT sockets held by a program\n\s+process\s+pid {pid} ", out) is not None,
              "the doctor names the CLOSE_WAIT holder")
        check(not netns_exists(ns), f"namespace {ns} left behind")
        check(not pid_alive(pid), f"leaky server {pid} left running")
    check("ESTABLISHED" in out and "no sysctl" in out.lower(), "summary and verdict shown")
    check("Cleaned up" in out, "demo says it cleaned up")
    finish("demo")


if __name__ == "__main__":
    main()
