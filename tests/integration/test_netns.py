# SPDX-License-Identifier: MIT
"""--netns: one resolver for every verb. A /run/netns name made of digits that
is also the pid of a live process wins over the pid, and a note says so; each
bad form gets its own message and exit 2 (it can name no network namespace) or
1 (well formed, but nothing by that name exists now)."""

import json
import os
import secrets
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, run_tcpstate, skip_unless_root  # noqa: E402

SETTING = "net.ipv4.tcp_fin_timeout"


def host_value():
    with open("/proc/sys/" + SETTING.replace(".", "/")) as f:
        return int(f.read())


def fin_timeout(tune_doc):
    return [s["current"] for s in tune_doc["settings"] if s["name"] == SETTING]


def test_digit_named_namespace():
    # A live process whose pid is also the name of a namespace.
    sleeper = subprocess.Popen(["sleep", "300"])
    name = str(sleeper.pid)
    value = 17 if host_value() != 17 else 19
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", f"{SETTING}={value}"],
                       check=True)
        note = f"used the network namespace named {name} in /run/netns, not the one of " \
               f"process {name}"

        rc, out, err = run_tcpstate(["explain", "fin-wait-2", "--netns", name])
        check(rc == 0, f"explain --netns {name}: exit {rc}: {err}")
        check(f"{SETTING} = {value}" in out,
              f"explain --netns {name} reads the named namespace's settings: {out[:600]!r}")
        check(f"network namespace {name} (/run/netns/{name}: a name, not a pid)" in out,
              f"explain says which namespace it used: {out[:200]!r}")
        check(note in err, f"explain: the note says the name won: {err!r}")

        rc, out, err = run_tcpstate(["tune", "--netns", name, "--json"])
        doc = json.loads(out) if rc == 0 else None
        check(doc is not None and fin_timeout(doc) == [str(value)] and
              doc["netns"]["name"] == name, f"tune --netns {name}: {rc} {err} {out[:300]}")
        check(note in err, f"tune: the note: {err!r}")

        for verb in (["summary", "--json"], ["list", "--json"], ["doctor", "--json"]):
            rc, out, err = run_tcpstate([verb[0], "--netns", name, *verb[1:]])
            check(rc == 0, f"{verb[0]} --netns {name}: exit {rc}: {err}")
            check(note in err, f"{verb[0]}: the note: {err!r}")
        rc, out, err = run_tcpstate(["summary", "--netns", name, "--json"])
        if rc == 0:
            check([n["name"] for n in json.loads(out)["netns"]] == [name],
                  f"summary counts the named namespace: {out[:300]}")

        # The pid's own namespace stays reachable, by its path, without a note.
        rc, out, err = run_tcpstate(["explain", "fin-wait-2", "--netns",
                                     f"/proc/{name}/ns/net"])
        check(rc == 0 and f"{SETTING} = {value}" not in out and "note" not in err,
              f"--netns /proc/{name}/ns/net is the process's namespace: {rc} {err!r}")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        sleeper.kill()
        sleeper.wait()
    # Without the name, the same digits are the pid (of a process that exists).
    rc, out, err = run_tcpstate(["explain", "fin-wait-2", "--netns", str(os.getpid())])
    check(rc == 0 and "(that of pid" in out and "note" not in err,
          f"digits without a name are a pid: {rc} {out[:200]!r} {err!r}")


def test_bad_forms():
    with tempfile.TemporaryDirectory() as d:
        loop_a, loop_b = os.path.join(d, "a"), os.path.join(d, "b")
        os.symlink(loop_b, loop_a)
        os.symlink(loop_a, loop_b)
        long_path = "/proc/" + "x/" * 2100 + "ns/net"
        cases = [
            ("", 2, "empty name"),
            (".", 2, "'.'"),
            ("..", 2, "'..'"),
            ("/proc/self/ns/mnt", 2, "not a network namespace"),
            ("/proc/self/ns/pid", 2, "not a network namespace"),
            (loop_a, 2, "symbolic links"),
            ("n" * 300, 2, "too long (300 bytes)"),
            (long_path, 2, f"too long ({len(long_path)} bytes)"),
            ("/etc/hostname", 2, "not a namespace file"),
            ("/dev/null", 2, "not a namespace file"),
            ("0", 2, "no valid pid"),
            ("99999999999", 2, "no valid pid"),
            (f"tsnetns-no-such-{secrets.token_hex(4)}", 1, "no such name in /run/netns"),
            ("/etc/hostname/x", 1, "not a directory"),
            ("999999999", 1, "no process with that pid"),
            ("/run/tsnetns-no-such-file", 1, "no such file"),
        ]
        for spec, want, words in cases:
            shown = spec if len(spec) < 60 else spec[:60]
            for verb in (["explain", "close-wait"], ["list"], ["summary"], ["doctor"], ["tune"],
                         ["close", "--how", "rst", "--dry-run"]):
                rc, out, err = run_tcpstate([*verb, "--netns", spec])
                check(rc == want, f"{verb[0]} --netns {shown!r}: exit {rc}, want {want}: {err!r}")
                check(words in err and shown in err and err.count("\n") == 1,
                      f"{verb[0]} --netns {shown!r}: one message naming it and saying "
                      f"'{words}': {err!r}")
                check(out == "", f"{verb[0]} --netns {shown!r}: printed {out[:100]!r}")


def main():
    skip_unless_root()
    test_digit_named_namespace()
    test_bad_forms()
    finish("netns")


if __name__ == "__main__":
    main()
