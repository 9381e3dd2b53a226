# SPDX-License-Identifier: MIT
"""One spelling of state names in every JSON document tcpstate writes.

A lab holds a socket in each of the 13 states; every verb that speaks JSON
(list, summary, doctor, explain, tune, close --dry-run, top --batch, lab's own
events) is
run on it, and every JSON string and object key that names a TCP state in
any spelling (close-wait, CLOSE-WAIT, close_wait, ss's ESTAB/SYN-RECV, ...)
where a state is meant (see walk()) must be the canonical one: upper case with underscores, as in
`tcpstate list --json` ("CLOSE_WAIT", "SYN_RECEIVED"). Free text (messages,
suggested commands such as `--state close-wait`) is not a state name and is
not checked."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tslab import check, finish, ALL_STATES, Lab, run_tcpstate, skip_unless_root  # noqa: E402

# ss's own names of the states, and the lower-case forms users type.
SS_NAMES = {"ESTAB": "ESTABLISHED", "SYN-RECV": "SYN_RECEIVED", "SYN_RECV": "SYN_RECEIVED",
            "UNCONN": None, "CLOSE": "CLOSED"}


def normal(text):
    return text.strip().upper().replace("-", "_").replace(" ", "_")


CANONICAL = set(ALL_STATES)
SPELLINGS = {normal(s): s for s in ALL_STATES}
SPELLINGS.update({normal(k): v for k, v in SS_NAMES.items() if v})


def state_like(text):
    """The canonical state a string spells, or None when it names none."""
    if not isinstance(text, str) or len(text) > 16:
        return None
    return SPELLINGS.get(normal(text))


def walk(doc, where, found):
    """Collects (where, text) of the strings that are state names if anything is: values
    (but not finding kinds, "kind": kebab-case ids of doctor's findings such as
    "close-wait", documented in tcpstate-doctor(8)), and the keys of objects that map
    states to something (most of their keys are states), not the keys that name a
    section ("close_wait": {...} in tune's document is snake_case like every key)."""
    if isinstance(doc, dict):
        keys = list(doc)
        if keys and sum(state_like(k) is not None for k in keys) * 2 > len(keys):
            found.extend((f"{where} key", k) for k in keys)
        for k, v in doc.items():
            if k != "kind":
                walk(v, f"{where}.{k}", found)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            walk(v, f"{where}[{i}]", found)
    elif isinstance(doc, str):
        found.append((where, doc))


def documents(text):
    """A JSON document, or JSON Lines: a list of parsed documents."""
    text = text.strip()
    if not text:
        return []
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def check_spelling(what, docs):
    found = []
    for i, d in enumerate(docs):
        walk(d, f"{what}#{i}", found)
    named = 0
    for where, text in found:
        st = state_like(text)
        if st is None:
            continue
        named += 1
        check(text in CANONICAL, f"{where}: state spelled {text!r}, not {st!r}")
    return named


def run_json(args, netns=None, ok=(0,)):
    rc, out, err = run_tcpstate(args, netns=netns, timeout=60)
    check(rc in ok, f"tcpstate {' '.join(args)}: exit {rc}: {err.strip()}")
    try:
        return documents(out)
    except json.JSONDecodeError as e:
        check(False, f"tcpstate {' '.join(args)}: not JSON: {e}")
        return []


def self_check():
    """The checker finds what it must: a misspelled state value and state-map key."""
    found = []
    walk({"state": "close-wait", "kind": "close-wait", "close_wait": {},
          "states": {"ESTAB": 1, "LISTEN": 2}}, "self", found)
    bad = [(w, t) for w, t in found if state_like(t) and t not in CANONICAL]
    if sorted(t for _, t in bad) != ["ESTAB", "close-wait"]:
        raise AssertionError(f"the spelling check is broken: {bad}")


def main():
    self_check()
    skip_unless_root()
    with Lab(ALL_STATES) as lab:
        ns = lab.netns
        seen = 0
        seen += check_spelling("lab events", lab.events)
        seen += check_spelling("list", run_json(["list", "--json", "--netns", ns]))
        seen += check_spelling("summary", run_json(["summary", "--json", "--netns", ns]))
        seen += check_spelling("doctor", run_json(["doctor", "--json", "--min-age", "0",
                                                   "--netns", ns], ok=(0, 1, 2, 3)))
        for st in ALL_STATES:
            seen += check_spelling(f"explain {st}", run_json(["explain", st, "--json"]))
        seen += check_spelling("tune", run_json(["tune", "--json", "--netns", ns]))
        seen += check_spelling("close --dry-run",
                               run_json(["close", "--state", "all", "--how", "rst", "--dry-run",
                                         "--min-idle", "0", "--json", "--netns", ns],
                                        ok=(0, 1, 4)))
        seen += check_spelling("top", run_json(["top", "--batch", "--json", "-n", "2",
                                                "-d", "0.2", "--netns", ns]))
        # The check must have had state names to look at: the lab alone names 13.
        check(seen >= 13 * 4, f"only {seen} state names found in the JSON documents")
    finish("JSON state spelling")


if __name__ == "__main__":
    main()
