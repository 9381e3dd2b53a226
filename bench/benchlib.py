# SPDX-License-Identifier: MIT
"""What the benchmark drivers (run.py, churn.py, topcost.py) share."""
import signal
import sys


class Stop(Exception):
    """SIGTERM/SIGHUP: unwind through the finally blocks."""


def on_signal(signum, frame):
    raise Stop(signal.Signals(signum).name)


def log(msg):
    print(msg, file=sys.stderr, flush=True)
