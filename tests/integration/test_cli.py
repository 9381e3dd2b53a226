# SPDX-License-Identifier: MIT
"""Command-line habits, root-free: whole names for options that change the
system, a guess at a mistyped verb, `help VERB`, options before the verb, one
meaning per short option, ss's filter words and flags, JSON documents and
JSON errors."""

import json
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, tcpstate_path  # noqa: E402

VERBS = ["doctor", "summary", "list", "explain", "close", "tune", "lab", "demo", "trace",
         "top", "exporter", "metrics", "check"]


def run(*args, cwd=None):
    return subprocess.run([tcpstate_path(), *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def usage_error(args, *words, cwd=None):
    r = run(*args, cwd=cwd)
    check(r.returncode == 2, f"{' '.join(args)}: exit 2, got {r.returncode} ({r.stderr!r})")
    for w in words:
        check(w in r.stderr, f"{' '.join(args)}: stderr names {w!r}: {r.stderr!r}")
    return r


def whole_names():
    with tempfile.TemporaryDirectory() as d:
        usage_error(["tune", "--writ", "x"], "--writ", "--write", cwd=d)
        check(not os.path.exists(os.path.join(d, "x")), "tune --writ x created no file x")
        usage_error(["tune", "--writ=x"], "--write", cwd=d)
        check(not os.path.exists(os.path.join(d, "x")), "tune --writ=x created no file x")
    usage_error(["tune", "--app"], "--apply")
    usage_error(["tune", "--rev", "f"], "--revert")
    usage_error(["tune", "--sav", "f"], "--save")
    usage_error(["close", "--ho", "rst"], "--how")
    usage_error(["close", "--how", "rst", "--ye"], "--yes")
    usage_error(["lab", "--clean"], "--cleanup")
    # The whole names still parse: this fails on the combination, not the spelling.
    r = usage_error(["tune", "--write", "/nonexistent/x", "--revert", "y"])
    check("written in full" not in r.stderr, f"whole names accepted: {r.stderr!r}")


def verbs_and_help():
    usage_error(["lsit"], "did you mean 'list'")
    usage_error(["sumary"], "did you mean 'summary'")
    r = usage_error(["xyzzy"], "unknown verb 'xyzzy'")
    check("did you mean" not in r.stderr, f"no guess for a word near nothing: {r.stderr!r}")
    for verb in VERBS:
        a, b = run("help", verb), run(verb, "--help")
        check(a.returncode == 0 and a.stdout == b.stdout and a.stdout,
              f"'help {verb}' and '{verb} --help' agree")
    usage_error(["help", "lsit"], "did you mean 'list'")
    # Options before the verb are the verb's.
    a, b = run("-j", "explain", "close-wait"), run("explain", "close-wait", "-j")
    check(a.returncode == 0 and a.stdout == b.stdout,
          f"'tcpstate -j explain close-wait' is 'explain close-wait -j': {a.returncode} {a.stderr!r}")
    r = run("-v", "summary", "--json")
    check(r.returncode in (0, 1) and "owners:" in r.stderr,
          f"'tcpstate -v summary' runs summary with -v: {r.returncode} {r.stderr!r}")
    check(r.stdout.lstrip().startswith("{"), "'tcpstate -v summary --json' prints summary's JSON")
    # -c is --comm everywhere: lab's count is --count only.
    usage_error(["lab", "-c", "3"], "--count")
    check("-c, --count" not in run("lab", "--help").stdout, "lab --help offers no -c")


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def ports_listed(*args):
    r = run("list", "--json", "--no-owners", *args)
    check(r.returncode == 0, f"list {' '.join(args)}: exit {r.returncode} ({r.stderr!r})")
    try:
        rows = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    except ValueError:
        check(False, f"list {' '.join(args)}: JSON Lines: {r.stdout[:200]!r}")
        return None
    return {(s["state"], s["local_port"]) for s in rows}


def ss_words():
    s = listener()
    port = s.getsockname()[1]
    try:
        got = ports_listed("state", "listening", f"( sport = :{port} )")
        check(got == {("LISTEN", port)}, f"state listening '( sport = :{port} )': {got}")
        got = ports_listed("state", "listening", "sport", f":{port}")
        check(got == {("LISTEN", port)}, f"state listening sport :{port}: {got}")
        got = ports_listed("state", "listening", f"( sport == :{port} and dport = :1 )")
        check(got == set(), f"'and' ANDs: {got}")
        got = ports_listed("exclude", "listening", f"sport = :{port}")
        check(got is not None and ("LISTEN", port) not in got, f"exclude listening: {got}")
        got = ports_listed("-s", "listen,established", "exclude", "established", f"sport = :{port}")
        check(got == {("LISTEN", port)}, f"-s listen,established exclude established: {got}")
        usage_error(["list", "-s", "listen", "exclude", "listen"], "no state")
    finally:
        s.close()
    usage_error(["list", "state", "close-wait", "( dport = :99999 )"], "bad port")
    usage_error(["list", "src", "1.2.3.4"], "-a/--addr")
    usage_error(["list", "dport", ">", ":80"], "--dport")
    usage_error(["summary", "( dport = :443 or dport = :80 )"], "--dport 80,443")
    usage_error(["list", "state", "nosuch"], "unknown state 'nosuch'")
    usage_error(["list", "( dport = :443"], "unbalanced")
    usage_error(["close", "--how", "rst", "src", "1.2.3.4"], "-a/--addr")
    # ss's flags: the tcpstate equivalents named.
    for args in (["list", "-anp"], ["summary", "-tlnp"], ["doctor", "-tan"], ["close", "-tanp"]):
        usage_error(args, "-a", "--port", "owners are always shown")


def json_documents():
    # A CLOSE_WAIT socket held by this process: a top holder of summary's.
    srv = listener()
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    cli.close()
    try:
        for verb in ("summary", "doctor"):
            r = run(verb, "--json")
            check(r.returncode in (0, 3), f"{verb} --json: exit {r.returncode} ({r.stderr!r})")
            try:
                doc = json.loads(r.stdout)
            except ValueError:
                check(False, f"{verb} --json is one JSON document: {r.stdout[:200]!r}")
                continue
            check(doc.get("schema_version") == 1, f"{verb}: schema_version 1: {doc.get('schema_version')}")
            ts = doc.get("generated_at") or ""
            check(len(ts) == 20 and ts[4] == "-" and ts[10] == "T" and ts.endswith("Z"),
                  f"{verb}: generated_at is RFC 3339 UTC: {ts!r}")
            if verb == "summary":
                names = [n["name"] for n in doc["netns"]]
                mine = [h for h in doc["top_closing"] if h["pid"] == os.getpid()]
                check(len(mine) == 1 and mine[0].get("netns") == names[:1] and
                      mine[0].get("netns_truncated") is False,
                      f"summary's top holder row names its namespace {names[:1]}: {mine}")
    finally:
        conn.close()
        srv.close()
    # Errors under --json: one JSON object on stderr, with the exit status.
    for args, code in ((["list", "--json", "-s", "nosuch"], 2), (["-j", "summary", "-p", "0"], 2),
                       (["tune", "--json", "--writ", "x"], 2)):
        r = run(*args)
        line = [ln for ln in r.stderr.splitlines() if ln.startswith("{")]
        try:
            err = json.loads(line[-1]) if line else {}
        except ValueError:
            err = {}
        check(r.returncode == code and err.get("exit_status") == code and err.get("error")
              and err.get("schema_version") == 1 and err.get("messages"),
              f"{' '.join(args)}: a JSON error on stderr: {r.returncode} {r.stderr!r}")


def main():
    json_documents()
    whole_names()
    verbs_and_help()
    ss_words()
    finish("cli")


if __name__ == "__main__":
    main()
