# SPDX-License-Identifier: MIT
"""The BPF socket source (`--backend bpf`, iter/tcp) against sock_diag
(`--backend netlink`) on the same real sockets: every socket of the lab's 13
states and an IPv6 namespace (v6only and dual-stack listeners, IPv6 and
v4-mapped connections) is reported with the same fields. Each bpf look is
taken between two netlink looks: a field the two netlink looks agree on must
be the bpf look's too; a clock (idle times, timers) must lie between them.
Also: filters, --all-netns, the collector of `top` and the exporter choosing
it, and a clear refusal without privilege."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import (bpf_option, check, finish, Lab, Netns, run_each, run_tcpstate,  # noqa: E402
                   skip, skip_unless_root, wait_until)

# Fields that are clocks: "ms since" grow, "ms until" shrink between looks.
SINCE = ("last_data_sent_ms", "last_data_recv_ms", "last_ack_recv_ms")
# The kernel's clock is jiffies: a look rounds to one tick (4 ms at HZ 250,
# 10 ms at HZ 100); two looks may each round once.
TICK_MS = 20


def list_json(backend, *args):
    rc, out, err = run_tcpstate(["list", "--json", "--info", "--backend", backend, *args],
                                timeout=120)
    if rc != 0:
        raise AssertionError(f"list --backend {backend} {args} failed ({rc}): {err}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def key(s):
    return (s["netns_inode"], s["state"], s["local_addr"], s["local_port"], s["remote_addr"],
            s["remote_port"], s["cookie"])


def by_key(socks):
    out = {}
    for s in socks:
        check(key(s) not in out, f"two sockets with one key: {key(s)}")
        out[key(s)] = s
    return out


def between(lo, mid, hi, slack=TICK_MS):
    return min(lo, hi) - slack <= mid <= max(lo, hi) + slack


def compare_socket(k, a, b, c, problems, gap_ms):
    """b (bpf) against a and c (netlink before and after); at least gap_ms
    passed between the netlink looks."""
    for f in sorted(set(a) | set(b)):
        if f in ("tcp_info", "timer", "source"):
            continue
        if a.get(f) == c.get(f) and b.get(f) != a.get(f):
            problems.append(f"{k}: {f} is {b.get(f)!r}, netlink says {a.get(f)!r}")
    if a["state"] == "BOUND":
        # In no socket hash: found through the holder's fd, as with /proc/net.
        if b["source"] != "fd":
            problems.append(f"{k}: BOUND source {b['source']!r}, want 'fd'")
        return
    if a["source"] == c["source"] and b["source"] != a["source"]:
        problems.append(f"{k}: source {b['source']!r}, netlink says {a['source']!r}")
    ta, tb, tc = a.get("timer"), b.get("timer"), c.get("timer")
    if (ta is None) != (tb is None) and (ta is None) == (tc is None):
        problems.append(f"{k}: timer {tb}, netlink says {ta}")
    elif ta and tb and tc and ta["kind"] == tc["kind"] and ta["retransmits"] == tc["retransmits"]:
        if tb["kind"] != ta["kind"] or tb["retransmits"] != ta["retransmits"]:
            problems.append(f"{k}: timer {tb}, netlink says {ta}")
        elif tc["expires_ms"] <= ta["expires_ms"] and \
                not between(ta["expires_ms"], tb["expires_ms"], tc["expires_ms"]):
            problems.append(f"{k}: timer expires in {tb['expires_ms']} ms, netlink looks "
                            f"say {ta['expires_ms']} then {tc['expires_ms']}")
    ia, ib, ic = a.get("tcp_info"), b.get("tcp_info"), c.get("tcp_info")
    if (ia is None) != (ib is None):
        problems.append(f"{k}: tcp_info {ib}, netlink says {ia}")
        return
    if not ia:
        return
    for f in sorted(set(ia) | set(ib)):
        if f in SINCE:
            if None in (ia.get(f), ib.get(f), ic.get(f)):
                continue
            # A quiet socket's clock grows with the wall clock between the
            # looks; one that grew less was reset (a segment came or went):
            # nothing to compare then.
            if ic[f] - ia[f] < gap_ms - 2 * TICK_MS:
                continue
            if not between(ia[f], ib[f], ic[f]):
                problems.append(f"{k}: {f} {ib[f]}, netlink looks say {ia[f]} then {ic[f]}")
        elif ia.get(f) == ic.get(f) and ib.get(f) != ia.get(f):
            problems.append(f"{k}: tcp_info.{f} {ib.get(f)!r}, netlink says {ia.get(f)!r}")


def sandwich(args, min_sockets):
    """netlink, bpf, netlink: the same sockets with the same fields."""
    a = by_key(list_json("netlink", *args))
    a_done = time.monotonic()
    b = by_key(list_json("bpf", *args))
    c_start = time.monotonic()
    c = by_key(list_json("netlink", *args))
    gap_ms = (c_start - a_done) * 1000
    check(len(b) >= min_sockets, f"bpf listed {len(b)} sockets, want at least {min_sockets}")
    both = set(a) & set(c)
    problems = [f"missing: {k}" for k in sorted(both - set(b), key=str)]
    problems += [f"not in either netlink look: {k}" for k in sorted(set(b) - set(a) - set(c),
                                                                     key=str)]
    compared = 0
    for k in sorted(both & set(b), key=str):
        compare_socket(k, a[k], b[k], c[k], problems, gap_ms)
        compared += 1
    check(compared >= min_sockets, f"compared {compared} sockets, want at least {min_sockets}")
    check(not problems, "bpf and netlink disagree:\n  " + "\n  ".join(problems[:40]))
    return a, b


def test_lab_all_states(lab):
    _, b = sandwich(["--netns", lab.netns, "--state", "all"], min_sockets=13 * 2)
    seen = {s["state"] for s in b.values()}
    for st in ("LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
               "CLOSE_WAIT", "LAST_ACK", "CLOSING", "TIME_WAIT", "BOUND", "IDLE", "CLOSED"):
        check(st in seen, f"--backend bpf: no {st} socket")


IPV6 = r"""
import socket, sys
socks = []
only = socket.socket(socket.AF_INET6); only.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
only.bind(("::1", 0)); only.listen(4); socks.append(only)
dual = socket.socket(socket.AF_INET6); dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
dual.bind(("::", 0)); dual.listen(4); socks.append(dual)
for host, port in (("::1", only.getsockname()[1]), ("127.0.0.1", dual.getsockname()[1]),
                   ("::1", dual.getsockname()[1])):
    c = socket.create_connection((host, port)); socks.append(c)
    c.sendall(b"x" * 1000)
# One closed by its peer: CLOSE_WAIT on the accepted side, FIN_WAIT_2 on the client.
c = socket.create_connection(("::1", only.getsockname()[1])); socks.append(c)
a, _ = only.accept(); socks.append(a); c.shutdown(socket.SHUT_WR)
print("ready", flush=True)
sys.stdin.read()
"""


def test_ipv6(netns):
    p = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", IPV6],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(p.stdout.readline().strip() == "ready", "the IPv6 helper did not start")
        ok = wait_until(lambda: any(s["state"] == "CLOSE_WAIT"
                                    for s in list_json("netlink", "--netns", netns)), 10)
        check(ok, "no CLOSE_WAIT in the IPv6 namespace")
        _, b = sandwich(["--netns", netns, "--state", "all"], min_sockets=8)
        fams = {(s["family"], s["v6only"]) for s in b.values() if s["state"] == "LISTEN"}
        check(("inet6", True) in fams and ("inet6", False) in fams,
              f"v6only and dual-stack listeners: {fams}")
        check(any(s["remote_addr"] == "::ffff:127.0.0.1" for s in b.values()),
              "the v4-mapped connection: " + str([s["remote_addr"] for s in b.values()]))
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_filters(lab):
    """The same selection as the kernel's bytecode, applied to the iterator's records."""
    ports = sorted({s["local_port"] for s in lab.targets() if s["local_port"]})
    for args in (["--state", "close-wait,time-wait"], ["--sport", str(ports[0])],
                 ["--port", str(ports[-1])], ["--addr", "127.0.0.1"],
                 ["--state", "listen", "--no-owners"]):
        a = {key(s) for s in list_json("netlink", "--netns", lab.netns, *args)}
        b = {key(s) for s in list_json("bpf", "--netns", lab.netns, *args)}
        c = {key(s) for s in list_json("netlink", "--netns", lab.netns, *args)}
        check(a & c <= b <= a | c, f"{args}: bpf {sorted(b, key=str)}, netlink {sorted(a, key=str)}")
        check(b, f"{args}: nothing selected")


def test_all_netns(lab):
    a = [s for s in list_json("netlink", "--all-netns") if s["netns"] == lab.netns]
    b = [s for s in list_json("bpf", "--all-netns") if s["netns"] == lab.netns]
    ka = {key(s) for s in a if s["state"] != "TIME_WAIT"}
    kb = {key(s) for s in b if s["state"] != "TIME_WAIT"}
    check(ka == kb and ka, f"--all-netns: the lab's sockets differ: only netlink "
          f"{sorted(ka - kb, key=str)}, only bpf {sorted(kb - ka, key=str)}")


def test_collector_uses_it(lab):
    """top keeps the program loaded and reads the sockets with it (the exporter
    the same: tcpstate_socket_source in test_exporter.py); its counts are
    summary's."""
    rc, out, err = run_tcpstate(["top", "--batch", "--json", "-n", "2", "-d", "0.2",
                                 "--netns", lab.netns], timeout=60)
    check(rc == 0, f"top failed ({rc}): {err}")
    frames = [json.loads(line) for line in out.splitlines() if line.strip()]
    check(len(frames) == 2, f"top: {len(frames)} frames")
    check(all(f["sockets"] == "bpf" for f in frames),
          f"top's sockets came from {[f['sockets'] for f in frames]}, want bpf")
    rc, out2, err2 = run_tcpstate(["summary", "--json", "--netns", lab.netns])
    check(rc == 0, f"summary failed: {err2}")
    want = {k: v for k, v in json.loads(out2)["states"].items() if k not in ("TIME_WAIT", "total")}
    got = {k: v for k, v in frames[-1]["states"].items() if k not in ("TIME_WAIT", "total")}
    check(got == want, f"top's counts {got} differ from summary's {want}")
    # --no-owners: BOUND sockets are in no hash; the dump has them, so top keeps it.
    rc, out, err = run_tcpstate(["top", "--batch", "--json", "-n", "1", "--no-owners",
                                 "--netns", lab.netns], timeout=60)
    check(rc == 0, f"top --no-owners failed ({rc}): {err}")
    frame = json.loads(out.splitlines()[0])
    check(frame["sockets"] == "netlink" and frame["states"]["BOUND"] == want["BOUND"],
          f"top --no-owners: sockets {frame['sockets']}, BOUND {frame['states']['BOUND']}")


# Only a TIME_WAIT socket (its connection's other end gone: inuse 0, tw 1),
# and a socket held but in no hash (bound, not listening).
TW_ONLY = r"""
import socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
c.close(); a.close(); l.close()  # the client ends in TIME_WAIT
b = socket.socket(); b.bind(("127.0.0.1", 0))
print("ready", b.getsockname()[1], flush=True)
sys.stdin.read()
"""


def verbose_list(netns, *args):
    rc, out, err = run_tcpstate(["list", "--json", "--backend", "bpf", "-v", "--netns", netns,
                                 "--state", "all", *args])
    check(rc == 0, f"list --netns {netns} failed ({rc}): {err}")
    return [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_namespaces_without_tcp(empty, tw_only):
    """A namespace whose TCP counts are 0 is not walked (a walk costs the whole
    host's table) and says so under -v; one holding only TIME_WAIT, or a socket
    no hash holds, is still read whole."""
    socks, err = verbose_list(empty)
    check(socks == [] and "1 namespace without TCP sockets" in err,
          f"the empty namespace: {socks}, stderr {err!r}")
    p = subprocess.Popen(["ip", "netns", "exec", tw_only, sys.executable, "-c", TW_ONLY],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        check(line[:1] == ["ready"], f"the helper did not start: {line}")
        bound_port = int(line[1])
        socks, err = verbose_list(tw_only)
        states = sorted(s["state"] for s in socks)
        check(states == ["BOUND", "TIME_WAIT"], f"TIME_WAIT and BOUND: {states}")
        check(any(s["state"] == "BOUND" and s["local_port"] == bound_port for s in socks),
              f"the bound socket on port {bound_port}: {socks}")
        check("without TCP sockets" not in err, f"a TIME_WAIT namespace was skipped: {err!r}")
        # The dump (netlink, which reads BOUND from the bind hash) agrees.
        net = list_json("netlink", "--netns", tw_only, "--state", "all")
        check(sorted(s["state"] for s in net) == states, f"netlink: {net}")
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def test_unprivileged():
    """Without CAP_BPF/CAP_SYS_ADMIN: one clear line and exit 1, never a silent
    fallback when bpf was asked for."""
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        "--inh-caps=-all", os.environ["TCPSTATE"], "list", "--backend", "bpf"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1, f"exit {r.returncode}, want 1: {r.stderr}")
    check("BPF socket source not permitted" in r.stderr and "--backend netlink" in r.stderr,
          f"the refusal says why and what to do: {r.stderr!r}")
    check(r.stdout.count("\n") <= 1, f"no sockets printed: {r.stdout!r}")


def main():
    skip_unless_root()
    if bpf_option() == "disabled":
        skip("built with -Dbpf=disabled: no BPF socket source")
    with Lab(count=2) as lab:
        run_each([("lab_all_states", lambda: test_lab_all_states(lab)),
                  ("filters", lambda: test_filters(lab)),
                  ("all_netns", lambda: test_all_netns(lab)),
                  ("collector", lambda: test_collector_uses_it(lab))])
    with Netns("tsv6") as ns:
        run_each([("ipv6", lambda: test_ipv6(ns.name))])
    with Netns("tsnotcp") as empty, Netns("tstwonly") as tw_only:
        run_each([("namespaces_without_tcp",
                   lambda: test_namespaces_without_tcp(empty.name, tw_only.name))])
    run_each([("unprivileged", test_unprivileged)])
    finish("socket source")


if __name__ == "__main__":
    main()
