# SPDX-License-Identifier: MIT
"""What `close --how rst` says it did is what it did, socket kind by kind.

SOCK_DESTROY (Linux tcp_abort()) acts differently on each kind of socket;
the reason close prints is a claim, checked here on real sockets that this
script holds, in a network namespace of its own:

- ESTABLISHED, held: the peer gets a RST (its recv() says ECONNRESET), the
  holder's next call fails with ECONNABORTED, the fd stays open;
- LISTEN, held: a connection waiting in the accept queue is reset, the next
  accept() fails with EINVAL, the fd stays open;
- SYN_SENT, held (a SYN nftables drops): no packet to the peer, the pending
  connect() fails with ECONNABORTED;
- TIME_WAIT: the entry is gone at once, no program and no fd is named.
"""

import errno
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, need_programs, run_named, run_tcpstate, skip_unless_root, tcpstate_path, wait_until  # noqa: E402

NETNS = f"tsrst-{os.getpid()}"


def close_rst(*selection):
    rc, out, err = run_tcpstate(["close", *selection, "--how", "rst", "--min-idle", "0",
                                 "--yes", "--json"])
    items = [json.loads(line) for line in out.splitlines() if line.strip()]
    items = [i for i in items if "summary" not in i]
    check(rc == 0 and len(items) == 1, f"close {selection}: exit {rc}, {len(items)} items: {err}")
    return items[0]["reason"] if items else ""


def errno_of(call):
    try:
        call()
    except OSError as e:
        return e.errno
    return 0


def ss_has(state, port):
    out = subprocess.run(["ss", "-tanH", "state", state, f"( sport = :{port} or dport = :{port} )"],
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def test_established():
    lst = socket.create_server(("127.0.0.1", 0))
    port = lst.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    server, _ = lst.accept()
    reason = close_rst("--state", "established", "--sport", str(port))
    check(reason.startswith("reset: the peer got a RST") and "ECONNABORTED" in reason,
          f"ESTABLISHED: {reason!r}")
    check(errno_of(lambda: client.recv(1)) == errno.ECONNRESET, "ESTABLISHED: the peer got no RST")
    check(errno_of(lambda: server.recv(1)) == errno.ECONNABORTED,
          "ESTABLISHED: the holder's next call did not fail with ECONNABORTED")
    check(errno_of(lambda: os.fstat(server.fileno())) == 0, "ESTABLISHED: the fd did not stay open")
    for s in (server, client, lst):
        s.close()


def test_listen():
    lst = socket.create_server(("127.0.0.1", 0))
    port = lst.getsockname()[1]
    waiting = socket.create_connection(("127.0.0.1", port))
    reason = close_rst("--state", "listen", "--sport", str(port))
    check(reason.startswith("stopped listening") and "EINVAL" in reason, f"LISTEN: {reason!r}")
    check(errno_of(lambda: lst.accept()) == errno.EINVAL, "LISTEN: accept() did not fail with EINVAL")
    check(errno_of(lambda: waiting.recv(1)) == errno.ECONNRESET,
          "LISTEN: the connection waiting to be accepted was not reset")
    check(errno_of(lambda: os.fstat(lst.fileno())) == 0, "LISTEN: the fd did not stay open")
    waiting.close()
    lst.close()


def test_syn_sent():
    # A SYN nobody answers: this namespace's nftables drops it on output
    # (nothing leaves the namespace anyway).
    subprocess.run(["nft", "add table inet tsrst; add chain inet tsrst out "
                    "{ type filter hook output priority 0; }; "
                    "add rule inet tsrst out tcp dport 9 tcp flags syn drop"], check=True)
    s = socket.socket()
    s.setblocking(False)
    check(errno_of(lambda: s.connect(("127.0.0.1", 9))) == errno.EINPROGRESS,
          "SYN_SENT: connect() did not start")
    port = s.getsockname()[1]
    if not check(wait_until(lambda: ss_has("syn-sent", port), 5), "SYN_SENT: no such socket"):
        s.close()
        return
    reason = close_rst("--state", "syn-sent", "--sport", str(port))
    check(reason.startswith("aborted: no packet was sent to the peer") and "ECONNABORTED" in reason,
          f"SYN_SENT: {reason!r}")
    check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNABORTED,
          "SYN_SENT: the pending connect() did not fail with ECONNABORTED")
    s.close()


def test_time_wait():
    lst = socket.create_server(("127.0.0.1", 0))
    port = lst.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    server, _ = lst.accept()
    client.close()  # the client closes first: its end goes to TIME_WAIT
    server.close()
    check(wait_until(lambda: ss_has("time-wait", port), 5), "TIME_WAIT: no such socket")
    reason = close_rst("--state", "time-wait", "--dport", str(port))
    check(reason.startswith("removed: the TIME_WAIT entry is gone") and "ECONNABORTED" not in reason
          and "fd" not in reason, f"TIME_WAIT: {reason!r}")
    check(not ss_has("time-wait", port), "TIME_WAIT: still there")
    lst.close()


def inner():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    run_named([(t.__name__, t) for t in (test_established, test_listen, test_syn_sent,
                                         test_time_wait)], "close --how rst", catch=(Exception,))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner()
        return
    skip_unless_root()
    tcpstate_path()
    need_programs("nft", "ss", "ip")
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        r = subprocess.run(["ip", "netns", "exec", NETNS, sys.executable, os.path.abspath(__file__),
                            "--inner"], timeout=120)
    finally:
        subprocess.run(["ip", "netns", "del", NETNS])
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
