#!/usr/bin/env python3
"""Runs lockcheck on every driver of a built corpus and prints, per driver,
its reports, lockcheck's CPU time and peak RSS, and the parse floor
(`opt-22 -passes=no-op-module` on the same bitcode), then totals and ratios.

    scripts/corpus/run.py OUT [--lockcheck PATH] [--only NAME ...] [--no-entries]

OUT is a corpus built by linux.sh, reactos.sh or windows-samples.sh:
OUT/drivers/<driver>/<driver>.bc, with optional lockcheck.args (extra
arguments, one per line; --no-entries leaves out their `--entry` names, to
measure what lockcheck finds on its own). Each driver's reports go to
OUT/drivers/<driver>/reports.json (lockcheck's JSON). Exit code 0 when every
driver was checked (whatever it reported), 2 on an error.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from driver_args import driver_args

REPO = Path(__file__).resolve().parents[2]


def run_child(command):
    """Runs `command` (stdout kept, stderr dropped); returns (exit code, CPU seconds, peak RSS in MiB) of that child alone."""
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execvp(command[0], command)
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--lockcheck", type=Path, default=REPO / "target/release/lockcheck")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--no-entries", action="store_true", help="leave out lockcheck.args's --entry names")
    opts = parser.parse_args()
    drivers_dir = opts.corpus / "drivers"
    if not drivers_dir.is_dir():
        sys.exit(f"run.py: error: {drivers_dir} does not exist (build the corpus first)")
    if not opts.lockcheck.exists():
        sys.exit(f"run.py: error: {opts.lockcheck} does not exist (run scripts/setup.sh)")
    rows = []
    for directory in sorted(p for p in drivers_dir.iterdir() if p.is_dir()):
        name = directory.name
        bitcode = directory / f"{name}.bc"
        if not bitcode.exists() or (opts.only and name not in opts.only):
            continue
        report = directory / "reports.json"
        command = [str(opts.lockcheck), "check", str(bitcode), "--format", "json", "-o", str(report)]
        code, cpu, rss = run_child(command + driver_args(directory, entries=not opts.no_entries))
        if code not in (0, 1):
            print(f"{name}: lockcheck failed (exit {code}): {' '.join(command)}", file=sys.stderr)
            rows.append((name, None, cpu, rss, 0.0))
            continue
        floor_code, floor, _ = run_child(["opt-22", "-passes=no-op-module", "-disable-output", str(bitcode)])
        if floor_code != 0:
            floor = 0.0
        diagnostics = json.loads(report.read_text())["diagnostics"]
        rows.append((name, diagnostics, cpu, rss, floor))

    print(f"{'driver':24} {'reports':>7} {'cpu s':>8} {'rss MiB':>8} {'floor s':>8} {'ratio':>6}")
    total_reports = total_cpu = total_floor = 0.0
    peak = 0.0
    failed = 0
    for name, diagnostics, cpu, rss, floor in rows:
        if diagnostics is None:
            failed += 1
            print(f"{name:24} {'error':>7} {cpu:8.2f} {rss:8.0f}")
            continue
        ratio = cpu / floor if floor > 0 else float("nan")
        print(f"{name:24} {len(diagnostics):7} {cpu:8.2f} {rss:8.0f} {floor:8.2f} {ratio:6.1f}")
        total_reports += len(diagnostics)
        total_cpu += cpu
        total_floor += floor
        peak = max(peak, rss)
    ratio = total_cpu / total_floor if total_floor > 0 else float("nan")
    print(f"{'total (' + str(len(rows)) + ' drivers)':24} {int(total_reports):7} {total_cpu:8.2f} {peak:8.0f} "
          f"{total_floor:8.2f} {ratio:6.1f}")
    for name, diagnostics, *_ in rows:
        for d in diagnostics or []:
            loc = d.get("location") or {}
            print(f"  {name}: {loc.get('file')}:{loc.get('line')} [{d['rule']}] {d['function']}: {d['message']}")
    sys.exit(2 if failed else 0)


if __name__ == "__main__":
    main()
