# SPDX-License-Identifier: MIT
"""`--all-netns` without privileges: the warning counts network namespaces, not
processes, and names those it could not enter; processes whose namespace cannot
even be identified are counted apart, as processes; the caller's own namespace
is read (no setns() needed) and is called init."""

import os
import re
import secrets
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, fatal, skip_unless_root, tcpstate_path  # noqa: E402

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def namespace_inodes():
    """Every network namespace root can see: bound in /run/netns or of a process."""
    inodes = set()
    paths = [f"/run/netns/{n}" for n in os.listdir("/run/netns")] if os.path.isdir("/run/netns") else []
    paths += [f"/proc/{p}/ns/net" for p in os.listdir("/proc") if p.isdigit()]
    for path in paths:
        try:
            inodes.add(os.stat(path).st_ino)
        except OSError:
            pass
    return inodes


def main():
    skip_unless_root()
    r = subprocess.run(NOBODY + ["true"], capture_output=True, text=True)
    if r.returncode != 0:
        fatal(f"setpriv cannot drop to nobody: exit {r.returncode}: {r.stderr.strip()}")
    names = [f"tsden-{secrets.token_hex(4)}" for _ in range(2)]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True)
        before = namespace_inodes()
        r = subprocess.run(NOBODY + [tcpstate_path(), "list", "--all-netns", "--state", "listen",
                                     "--port", str(port)], capture_output=True, text=True, timeout=60)
        after = namespace_inodes()
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        listener.close()
    m = re.search(r"could not enter (\d+) network namespaces? \(([^)]*)\)", r.stderr)
    if check(m, f"no 'could not enter N network namespaces (NAMES)' warning:\n{r.stderr}"):
        n = int(m.group(1))
        seen = len(before | after)
        check(2 <= n <= seen, f"could not enter {n} namespaces, with {seen} on the host:\n{r.stderr}")
        check(m.group(2).strip() != "", "the namespaces not entered are named")
    for line in r.stderr.splitlines():
        if "network namespace of" in line:
            check(re.search(r"network namespace of \d+ process(es)? ", line),
                  f"processes whose namespace is unknown are counted as processes: {line}")
    rows = [l.split() for l in r.stdout.splitlines()[1:]]
    check(any(row[0] == "init" and row[-4].endswith(f":{port}") for row in rows if len(row) > 4),
          f"our own namespace (init) is read without privileges:\n{r.stdout}\n{r.stderr}")
    finish("netns denied")


if __name__ == "__main__":
    main()
