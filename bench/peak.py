"""`python -m bench.peak --out FILE -- CMD ...`: run CMD, then write its exit status, wall time
and peak RSS to FILE as JSON.

The peak is the `ru_maxrss` of CMD's own process from `wait4`. Linux counts into it what the
forking process had resident up to the `exec`, so it is measured from here, a small process,
rather than from the benchmark's driver, which holds large synthetic data sets.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peak")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    start = time.monotonic()
    process = subprocess.Popen(command)  # noqa: S603 - the benchmark's own command line
    # Stopped, stop the command too: the wait below then returns.
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    result = {
        "exit": process.returncode,
        "seconds": seconds,
        "peak_mb": usage.ru_maxrss / 1024,  # KiB on Linux
    }
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
