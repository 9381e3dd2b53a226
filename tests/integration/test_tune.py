# SPDX-License-Identifier: MIT
"""`tcpstate tune` in a throwaway network namespace: recommendations driven by
real orphaned FIN_WAIT_2 and TIME_WAIT sockets, --apply then --revert restores
every audited value exactly, the host's values stay untouched, --write output
is accepted by `sysctl -p` inside the namespace, --json parses, the CLOSE_WAIT
note, config-file lint with --config-root (links kept inside it, no hang on a
FIFO, control characters never reach the terminal), --revert refusing foreign
keys, host-wide keys under --netns and files that are not regular, and usage
errors."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (check, finish, need_programs, run_tcpstate, skip_unless_root,  # noqa: E402
                   tcpstate_path, wait_until)


AUDITED = [
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_retries1", "net.ipv4.tcp_retries2",
    "net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_max_orphans", "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_synack_retries", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies",
    "net.core.somaxconn", "net.ipv4.tcp_abort_on_overflow", "fs.nr_open", "fs.file-max",
]

# Runs inside the namespace: 250 TIME_WAIT to 127.0.0.1:5000 (the client closes
# first, then the server), 250 orphaned FIN_WAIT_2 to 127.0.0.1:5001 (the client
# closes, the server holds its end in CLOSE_WAIT). Prints "ready", then waits.
HELPER = r"""
import resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
N = 250
def listener(port):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port))
    l.listen(1024)
    return l
tw, fw2 = listener(5000), listener(5001)
held = []
for _ in range(N):
    c = socket.create_connection(("127.0.0.1", 5000))
    s, _ = tw.accept()
    c.close()
    s.close()
for _ in range(N):
    c = socket.create_connection(("127.0.0.1", 5001))
    s, _ = fw2.accept()
    c.close()
    held.append(s)
print("ready", flush=True)
sys.stdin.read()
"""


def sh(*cmd, netns=None, check_rc=True):
    if netns:
        cmd = ("ip", "netns", "exec", netns) + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check_rc and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
    return r


def read_values(netns=None):
    """Every audited setting as the kernel prints it (None when absent), read with cat."""
    out = {}
    for name in AUDITED:
        path = "/proc/sys/" + name.replace(".", "/")
        r = sh("cat", path, netns=netns, check_rc=False)
        out[name] = r.stdout if r.returncode == 0 else None
    return out


def tune(*args, netns_exec=None):
    return run_tcpstate(["tune", *args], timeout=60, netns=netns_exec)


def tune_json(*args):
    rc, out, err = tune("--json", *args)
    if rc != 0:
        raise AssertionError(f"tune --json {args} failed ({rc}): {err}")
    return json.loads(out)


def setting(doc, name):
    for s in doc["settings"]:
        if s["name"] == name:
            return s
    raise AssertionError(f"{name} missing from tune --json")


def test_usage():
    rc, out, _ = tune("--help")
    check(rc == 0 and "--revert" in out and "CLOSE_WAIT" in out, "tune --help")
    for args, code in ((["--bogus"], 2), (["--save", "/tmp/x"], 2), (["--revert", "/tmp/x", "--apply"], 2),
                       (["extra"], 2), (["--netns", "tstune-no-such-namespace"], 1),
                       (["--revert", "/nonexistent/tstune-backup.conf"], 1)):
        rc, _, err = tune(*args)
        check(rc == code, f"tune {args}: exit {rc}, expected {code} ({err.strip()})")
        check(err.startswith("tcpstate: ") or "Try" in err, f"tune {args}: no message on stderr")


def test_own_namespace_json():
    # Read-only in the caller's namespace: nothing may change.
    doc = tune_json()
    names = [s["name"] for s in doc["settings"]]
    check(names == AUDITED, f"settings order {names}")
    check("No sysctl ends CLOSE_WAIT" in doc["close_wait"]["note"], "close_wait note in JSON")
    check(doc["applied"] == [] and doc["backup"] is None and doc["written"] is None,
          "a plain audit changes nothing")


def test_config_lint(tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "etc/sysctl.d"))
    with open(os.path.join(root, "etc/sysctl.d/50-legacy.conf"), "w") as f:
        f.write("net.ipv4.tcp_tw_recycle = 1\n"
                "# fix the CLOSE_WAIT pile-up\n"
                "net.ipv4.tcp_fin_timeout = 10\n"
                "net.ipv4.tcp_tw_reuse = 3\n"
                "garbage line\n")
    doc = tune_json("--config-root", root)
    kinds = {(f["kind"], f["line"]) for f in doc["config"]["findings"]}
    for want in (("removed", 1), ("fin-timeout", 3), ("bad-value", 4), ("malformed", 5)):
        check(want in kinds, f"config finding {want} missing: {sorted(kinds)}")
    rc, out, _ = tune("--config-root", root)
    check(rc == 0 and "50-legacy.conf:1: error" in out, "config findings printed with file:line")


def tune_bounded(*args):
    """tune with a deadline: (rc, out, err), or None when it hangs (e.g. reading a FIFO)."""
    try:
        return run_tcpstate(["tune", *args], timeout=20)
    except subprocess.TimeoutExpired:
        return None


def test_config_root_confinement(tmp):
    # Links out of --config-root resolve inside it (systemd-sysctl --root): the
    # content of a file outside is never read, let alone printed as a lint error.
    root = os.path.join(tmp, "confined")
    d = os.path.join(root, "etc/sysctl.d")
    os.makedirs(d)
    marker = f"tstune_secret_{secrets.token_hex(4)}"
    secret = os.path.join(tmp, "secret.conf")
    with open(secret, "w") as f:
        f.write(f"net.ipv4.{marker} = {marker}\nnot an assignment {marker}\n")
    os.symlink(secret, os.path.join(d, "10-absolute.conf"))
    os.symlink("../../../secret.conf", os.path.join(d, "11-dotdot.conf"))
    os.symlink("/etc/passwd", os.path.join(d, "12-passwd.conf"))
    os.symlink("/proc/self/root" + secret, os.path.join(d, "13-proc.conf"))
    os.mkfifo(os.path.join(d, "20-fifo.conf"))
    with open(os.path.join(d, "30-escape.conf"), "wb") as f:
        f.write(b"net.ipv4.tcp_fin_timeout = 3\x1b]0;owned\x07\x1b[31mred\xc2\x9b1m caf\xc3\xa9\n")
    with open("/etc/passwd") as f:
        passwd_line = f.readline().strip()

    res = tune_bounded("--config-root", root)
    check(res is not None, "tune --config-root hangs on a FIFO in sysctl.d")
    if res is None:
        return
    rc, out, err = res
    check(rc == 0, f"tune --config-root with links and a FIFO: exit {rc} ({err.strip()})")
    check(marker not in out + err, "a file outside --config-root was read and printed")
    check(passwd_line not in out + err, "/etc/passwd was read through a link in --config-root")
    for name in ("10-absolute.conf", "11-dotdot.conf", "12-passwd.conf"):
        check(f"{name}:0: error: cannot be read: a dangling link" in out, f"{name} not reported: {out}")
    check("20-fifo.conf:0: error: a FIFO, not a regular file; not read" in out, f"FIFO not reported: {out}")
    check(not any(c in out + err for c in "\x1b\x07\x9b"), "control characters from a file reach the terminal")
    check("= 3?]0;owned??[31mred??1m caf\u00e9:" in out, f"escaped value not shown with '?' (one per byte, as term_safe() does): {out!r}")
    doc = tune_json("--config-root", root)
    check(marker not in json.dumps(doc), "a file outside --config-root in the JSON")
    check(os.path.join(root, "etc/sysctl.d/30-escape.conf") in doc["config"]["files"],
          f"files read: {doc['config']['files']}")
    rc, _, err = tune("--config-root", os.path.join(tmp, "no-such-root"))
    check(rc == 1 and "no-such-root" in err, f"a missing --config-root is an error ({rc}, {err.strip()})")


def test_revert_refusals(ns, tmp):
    own_ino = os.stat("/proc/self/ns/net").st_ino

    def rfc1337():
        return sh("cat", "/proc/sys/net/ipv4/tcp_rfc1337", netns=ns).stdout.strip()

    # A key tune does not manage (per namespace, harmless to flip) is refused, nothing changes.
    before = rfc1337()
    foreign = os.path.join(tmp, "foreign.conf")
    with open(foreign, "w") as f:
        f.write(f"# netns: {ns}\nnet.ipv4.tcp_fin_timeout = 61\nnet.ipv4.tcp_rfc1337 = {1 - int(before)}\n")
    ns_before = read_values(ns)
    rc, _, err = tune("--revert", foreign, "--netns", ns)
    check(rc == 1 and "tcp_rfc1337 is not a setting tcpstate tune manages" in err,
          f"--revert of a foreign key: exit {rc} ({err.strip()})")
    check(rfc1337() == before and read_values(ns) == ns_before, "a refused --revert changed something")

    # kernel.hostname, with and without --netns: run in a throwaway UTS namespace so
    # that even a regression cannot rename this machine.
    hostfile = os.path.join(tmp, "hostname.conf")
    with open(hostfile, "w") as f:
        f.write(f"# netns-inode: {own_ino}\nkernel.hostname = tstune-pwned\n")
    for extra in ([], ["--netns", ns]):
        r = subprocess.run(["unshare", "--uts", "sh", "-c", '"$@"; rc=$?; hostname; exit $rc', "sh",
                            tcpstate_path(), "tune", "--revert", hostfile, *extra],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "kernel.hostname is not a setting tcpstate tune manages" in r.stderr,
              f"--revert kernel.hostname {extra}: exit {r.returncode} ({r.stderr.strip()})")
        check("tstune-pwned" not in r.stdout, f"--revert {extra} set kernel.hostname")

    # A host-wide key under --netns is refused even when NS is the caller's own namespace.
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = f.read().strip()
    hw = os.path.join(tmp, "hostwide.conf")
    with open(hw, "w") as f:
        f.write(f"# netns-inode: {own_ino}\nfs.nr_open = {nr_open}\n")
    rc, _, err = tune("--revert", hw, "--netns", "/proc/self/ns/net")
    check(rc == 1 and "fs.nr_open is host-wide" in err, f"--revert fs.nr_open under --netns: exit {rc} ({err.strip()})")

    # Only regular files: /dev/null, a directory, a FIFO (which must not hang).
    fifo = os.path.join(tmp, "backup.fifo")
    os.mkfifo(fifo)
    for path in ("/dev/null", tmp, fifo):
        res = tune_bounded("--revert", path, "--netns", ns)
        check(res is not None, f"--revert {path} hangs")
        if res is not None:
            rc, _, err = res
            check(rc == 1 and "not a regular file" in err, f"--revert {path}: exit {rc} ({err.strip()})")


def make_sockets(ns):
    # A narrow port range makes 250 TIME_WAIT to one destination "most of it";
    # tw_reuse=0 so loopback connects do not reuse those ports meanwhile.
    sh("sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40399", netns=ns)
    sh("sysctl", "-qw", "net.ipv4.tcp_tw_reuse=0", netns=ns)
    p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", HELPER],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.kill()
        raise AssertionError(f"socket helper failed: {p.stderr.read()}")
    return p


def test_namespace(ns, tmp, host_before):
    ns_before = read_values(ns)

    # Recommendations from what the sockets show.
    doc = tune_json("--netns", ns)
    obs = doc["observed"]
    check(obs["fin_wait_2_orphans"] >= 200, f"orphaned FIN_WAIT_2 seen: {obs['fin_wait_2_orphans']}")
    check(obs["states"]["TIME_WAIT"] >= 200, f"TIME_WAIT seen: {obs['states']['TIME_WAIT']}")
    check(obs["states"]["CLOSE_WAIT"] >= 200, f"CLOSE_WAIT seen: {obs['states']['CLOSE_WAIT']}")
    top = obs["time_wait_top"]
    check(top is not None and top["remote_port"] == 5000 and top["count"] >= 200, f"TIME_WAIT top {top}")
    fin = setting(doc, "net.ipv4.tcp_fin_timeout")
    check(fin["action"] == "change" and fin["recommended"] == "30", f"fin_timeout advice {fin}")
    pr = setting(doc, "net.ipv4.ip_local_port_range")
    check(pr["action"] == "change" and pr["current"] == "40000\t40399", f"port range advice {pr}")
    reuse = setting(doc, "net.ipv4.tcp_tw_reuse")
    check(reuse["action"] == "change" and reuse["recommended"] == "1" and "outgoing" in reuse["reason"],
          f"tw_reuse advice {reuse}")
    check(setting(doc, "net.core.somaxconn")["action"] == "keep", "somaxconn: keep")
    check(doc["netns"]["name"] == ns, f"netns name {doc['netns']}")
    changed = {c["name"] for c in doc["changes"]}
    check({"net.ipv4.tcp_fin_timeout", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse"} <= changed,
          f"changes {changed}")
    check(not any(n.startswith("fs.") or n == "net.ipv4.tcp_max_orphans" for n in changed),
          "host-wide settings among the changes for a namespace")

    rc, out, err = tune("--netns", ns)
    check(rc == 0, f"tune --netns: {err}")
    check("No sysctl ends CLOSE_WAIT" in out, "text output says no sysctl ends CLOSE_WAIT")
    check("nothing was changed" in out, "a plain audit says nothing was changed")
    check(read_values(ns) == ns_before, "a plain audit changed the namespace")

    # --apply, then --revert: every audited value exactly as before.
    backup = os.path.join(tmp, "backup.conf")
    rc, out, err = tune("--netns", ns, "--apply", "--save", backup)
    check(rc == 0, f"tune --apply failed ({rc}): {err}")
    check(os.path.exists(backup) and backup in out, "backup written and its path printed")
    check("net.ipv4.tcp_fin_timeout: 60 -> 30" in out, f"apply prints the diff: {out}")
    after = read_values(ns)
    check(after["net.ipv4.tcp_fin_timeout"] == "30\n", f"fin_timeout applied: {after['net.ipv4.tcp_fin_timeout']!r}")
    check(after["net.ipv4.tcp_tw_reuse"] == "1\n", "tw_reuse applied")
    check(read_values() == host_before, "the host's values changed by --apply in a namespace")

    rc, out, err = tune("--revert", backup)
    check(rc == 0, f"tune --revert failed ({rc}): {err}")
    check("-> 60" in out, f"revert prints the diff: {out}")
    check(read_values(ns) == ns_before, f"values after revert differ: {read_values(ns)} vs {ns_before}")
    check(read_values() == host_before, "the host's values changed by --revert")
    rc, _, err = tune("--netns", ns, "--apply", "--save", backup)
    check(rc == 1 and "exists" in err, f"an existing backup is not overwritten ({rc}, {err})")
    check(read_values(ns) == ns_before, "a refused --apply changed something")
    rc, out, err = tune("--revert", backup, "--json")
    try:
        rev = json.loads(out)
        check(rc == 0 and all(not r["changed"] for r in rev["reverted"]), "second revert changes nothing")
    except ValueError:
        check(False, f"tune --revert --json does not parse: {out!r} {err}")

    # --apply --json, revert with --netns given explicitly.
    backup2 = os.path.join(tmp, "backup2.conf")
    doc = tune_json("--netns", ns, "--apply", "--save", backup2)
    check(doc["backup"] == backup2 and len(doc["applied"]) >= 3, f"--apply --json: {doc['applied']}")
    rc, _, err = tune("--revert", backup2, "--netns", ns)
    check(rc == 0 and read_values(ns) == ns_before, f"revert with --netns: {err}")

    # --write: a drop-in that sysctl -p accepts inside the namespace.
    dropin = os.path.join(tmp, "99-tcpstate.conf")
    rc, out, err = tune("--netns", ns, "--write", dropin)
    check(rc == 0 and os.path.exists(dropin), f"tune --write failed: {err}")
    check(read_values(ns) == ns_before, "--write changed the namespace")
    with open(dropin) as f:
        text = f.read()
    check("net.ipv4.tcp_fin_timeout = 30" in text, f"drop-in content: {text}")
    check(not [n for n in os.listdir(tmp) if n.startswith(".99-tcpstate")], "temporary file left behind")
    r = sh("sysctl", "-p", dropin, netns=ns, check_rc=False)
    check(r.returncode == 0, f"sysctl -p rejects the drop-in: {r.stderr}")
    check(read_values(ns)["net.ipv4.tcp_fin_timeout"] == "30\n", "sysctl -p applied the drop-in")
    check(read_values() == host_before, "the host's values changed by sysctl -p in the namespace")


def main():
    skip_unless_root()
    need_programs("sysctl")  # procps
    host_before = read_values()
    test_usage()
    test_own_namespace_json()

    ns = f"tstune-{secrets.token_hex(4)}"
    tmp = tempfile.mkdtemp(prefix="tstune-")
    helper = None
    try:
        test_config_lint(tmp)
        test_config_root_confinement(tmp)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", netns=ns)
        helper = make_sockets(ns)
        test_namespace(ns, tmp, host_before)
        test_revert_refusals(ns, tmp)
    finally:
        if helper:
            helper.kill()
            helper.wait(10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    check(wait_until(lambda: not os.path.exists(f"/run/netns/{ns}"), 5), "namespace left behind")
    check(read_values() == host_before, "the host's audited values changed")
    finish("tune")


if __name__ == "__main__":
    main()
