# SPDX-License-Identifier: MIT
"""Every command tcpstate suggests is run here and must do what the
suggestion says. A wrong hint is worse than none.

- "Try 'tcpstate VERB --help'." after a usage error: prints VERB's usage;
- `lab`'s "Inspect from another terminal: tcpstate list --netns NS": lists
  the lab's sockets;
- `explain STATE`'s "How to see" commands (`tcpstate list --state S`, ...),
  for each of the 13 states, run against a lab that holds every state: each
  lists sockets, all of them in that state;
- `summary`'s "See 'tcpstate list --state close-wait --pid N'" under
  `--netns` and `--all-netns`: lists that process's CLOSE_WAIT sockets;
- `tune`'s "see 'tcpstate doctor'": runs;
- the drop-in of `tune --netns NS --write FILE` says how to apply it inside
  NS (`ip netns exec NAME sysctl -p`, or `nsenter --net=/proc/PID/ns/net`
  for a namespace without a name): that command runs.
The close commands of `doctor` are run by test_close.py, test_close_idle.py
and test_doctor_real.py; `tune --revert` by test_tune.py.
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, run_each, ALL_STATES, Lab, run_tcpstate, skip_unless_root, wait_until  # noqa: E402

VERBS = ["list", "summary", "doctor", "explain", "tune", "close", "lab", "demo", "trace",
         "top", "exporter", "metrics", "check"]
# A usage error exits 2, except in the Nagios plugin mode (3: UNKNOWN).
USAGE_EXIT = {"check": 3}


def run_hint(cmd, netns=None):
    """Runs a suggested `tcpstate ...` command line: (rc, out, err)."""
    argv = shlex.split(cmd)
    if not check(argv and argv[0] == "tcpstate", f"not a tcpstate command: {cmd!r}"):
        return 1, "", ""
    return run_tcpstate(argv[1:], netns=netns, timeout=60)


def rows(out):
    """The state column of `list`'s table rows."""
    lines = [line for line in out.splitlines() if line.strip()]
    col = 1 if lines and lines[0].split()[0] == "NETNS" else 0  # --all-netns
    return [line.split()[col] for line in lines[1:]]


def test_try_help():
    for verb in VERBS:
        rc, out, err = run_tcpstate([verb, "--no-such-option"])
        m = re.search(r"[Tt]ry '(tcpstate [^']+)'", err)
        if not check(rc == USAGE_EXIT.get(verb, 2) and m,
                     f"{verb}: usage error without a 'Try' hint: {rc} {err[:200]!r}"):
            continue
        rc, out, _ = run_hint(m.group(1))
        check(rc == 0 and re.match(rf"Usage: tcpstate (\[{verb}\]|{verb}\b)", out),
              f"{m.group(1)!r}: exit {rc}, does not print {verb}'s usage")


def test_lab_hint(lab):
    ready = [e for e in lab.events if e.get("event") == "ready"][0]
    rc, out, err = run_hint(ready["inspect"])
    check(rc == 0 and len(rows(out)) >= len(ALL_STATES),
          f"lab's hint {ready['inspect']!r}: exit {rc}, {len(rows(out))} rows: {err}")


def fill_placeholders(cmd, sock):
    """An explain page's command with its placeholders filled from a lab socket of
    the state it explains: ADDR:PORT is that socket's local end, PORT its port."""
    cmd = cmd.replace("ADDR:PORT", f"127.0.0.1:{sock['local_port']}")
    return cmd.replace("PORT", str(sock["local_port"]))


def listed_state(cmd):
    """The state a suggested `tcpstate list --state S` must list, canonical."""
    m = re.search(r"--state ([a-z0-9_-]+)", cmd)
    if not m:
        return None
    st = m.group(1).upper().replace("-", "_")
    return {"SYN_RECV": "SYN_RECEIVED", "ESTAB": "ESTABLISHED"}.get(st, st)


def test_explain_hints(lab):
    by_state = {t["state"]: t for t in lab.targets()}
    for st in ALL_STATES:
        rc, out, err = run_tcpstate(["explain", st])
        cmds = re.findall(r"`(tcpstate [^`]+)`", out)
        if not check(rc == 0 and cmds, f"explain {st}: exit {rc}, no command suggested"):
            continue
        for template in cmds:
            cmd = fill_placeholders(template, by_state[st])
            rc, out, err = run_hint(cmd + " --netns " + lab.netns)
            if not cmd.startswith("tcpstate list"):
                check(rc == 0, f"explain {st}: {cmd!r} fails ({rc}): {err}")
                continue
            want = listed_state(cmd)
            states = rows(out)
            check(rc == 0 and states and (want is None or all(s == want for s in states)),
                  f"explain {st}: {cmd!r} lists {sorted(set(states))} (exit {rc}): {err}")


def summary_hint(args):
    rc, out, err = run_tcpstate(["summary", *args])
    m = re.search(r"See '(tcpstate [^']+)'", out)
    check(rc == 0 and m, f"summary {args}: no 'See' hint (exit {rc}): {out[-400:]} {err}")
    return m.group(1) if m else None


def test_summary_hint():
    with Lab(states=["LISTEN"], leak=50) as lab:
        check(wait_until(lambda: lab.leak, 10), "the lab's leak did not start")
        server = lab.leak["server_pid"]
        check(wait_until(lambda: "CLOSE_WAIT" in run_tcpstate(
            ["list", "--state", "close-wait", "--netns", lab.netns])[1], 15),
            "no CLOSE_WAIT socket in the leak")
        for args in (["--netns", lab.netns], ["--all-netns"]):
            hint = summary_hint(args)
            if not hint:
                continue
            m = re.search(r"--pid (\d+)", hint)
            # Other labs may run on the host: under --all-netns the top holder may be
            # another; the hint must list that one's sockets all the same.
            check(m and (args[0] == "--all-netns" or int(m.group(1)) == server),
                  f"summary {args}: hint {hint!r} names another pid than {server}")
            rc, out, err = run_hint(hint)
            states = rows(out)
            check(rc == 0 and states and all(s == "CLOSE_WAIT" for s in states),
                  f"summary {args}: {hint!r} lists {len(states)} rows "
                  f"{sorted(set(states))} (exit {rc}): {err}")


def test_tune_doctor_hint():
    rc, out, _ = run_tcpstate(["tune", "--help"])
    cmds = re.findall(r"'(tcpstate [^']+)'", out)
    check(rc == 0 and cmds, "tune --help suggests no command")
    for cmd in cmds:
        rc, _, err = run_hint(cmd)
        check(rc in (0, 1, 3), f"tune --help suggests {cmd!r}, which fails ({rc}): {err}")


def test_tune_dropin_hint(lab):
    """The drop-in `tune --write` writes says how to apply it inside the namespace:
    by its /run/netns name, or through /proc/PID/ns/net when it has none."""
    # A namespace with no /run/netns name: a process's own (unshare).
    unnamed = subprocess.Popen(["unshare", "--net", "sleep", "300"])
    try:
        check(wait_until(lambda: os.stat(f"/proc/{unnamed.pid}/ns/net").st_ino !=
                         os.stat("/proc/self/ns/net").st_ino, 5), "unshare --net did not start")
        dropin_hint_runs(lab.netns)
        dropin_hint_runs(f"/proc/{unnamed.pid}/ns/net")
    finally:
        unnamed.kill()
        unnamed.wait()


def dropin_hint_runs(ns):
    """Runs the apply line of the drop-in `tune --netns ns --write` writes."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "90-tcpstate.conf")
        rc, out, err = run_tcpstate(["tune", "--netns", ns, "--write", path])
        if not check(rc in (0, 1) and os.path.exists(path),
                     f"tune --netns {ns} --write: exit {rc}: {err}"):
            return
        with open(path, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"^#\s+((?:ip netns exec|nsenter) .*sysctl -p .*)$", text, re.M)
        if not check(m, f"tune --netns {ns}: the drop-in says no way to apply it: {text[:300]!r}"):
            return
        r = subprocess.run(shlex.split(m.group(1)), capture_output=True, text=True)
        check(r.returncode == 0, f"tune --netns {ns}: {m.group(1)!r} fails: {r.stderr}")


def main():
    skip_unless_root()
    run_each([("try help", test_try_help)], catch=(Exception,))
    with Lab(ALL_STATES) as lab:
        run_each([("lab hint", lambda: test_lab_hint(lab)),
                  ("explain hints", lambda: test_explain_hints(lab)),
                  ("tune drop-in hint", lambda: test_tune_dropin_hint(lab))], catch=(Exception,))
    run_each([("summary hint", test_summary_hint), ("tune hint", test_tune_doctor_hint)],
             catch=(Exception,))
    finish("hint")


if __name__ == "__main__":
    main()
