#!/usr/bin/env python3
"""Mutation testing over a built corpus: deletes one real spin-lock call at a
time, recompiles that unit with its own command, relinks the driver and
counts the mutants lockcheck reports (a report at a place the unmodified
driver had none).

    scripts/corpus/mutate.py OUT [--kind release|acquire] [--only DRIVER ...] [-j N] [--limit N] [--no-entries]

--kind release (default): each spin-lock release call is deleted; the lock
  is then held at the routine's return, or acquired again.
--kind acquire: each spin-lock acquire in a function that also completes a
  request (IoCompleteRequest, WdfRequestComplete*) is deleted; its release
  is then a release of a lock not held.

The call is replaced by `((void)0)` with its line breaks kept, so every line
keeps its number. The mutant is written next to the original (includes of
"local.h" still resolve), compiled to a temporary .bc and removed. Mutants
that do not compile are counted apart, and so are mutants whose unit
compiles to as many calls as before: the deleted call was compiled out
(`#if DBG`, an unused macro) and the mutant is the original. OUT uses the layout of
/work/corpus/LAYOUT.md as the corpus scripts write it:
OUT/drivers/<driver>/{compile_commands.json,<driver>.bc,lockcheck.args}.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from driver_args import driver_args

REPO = Path(__file__).resolve().parents[2]

RELEASES = [
    "KeReleaseSpinLock", "KeReleaseSpinLockFromDpcLevel", "KeReleaseInStackQueuedSpinLock",
    "KeReleaseInStackQueuedSpinLockFromDpcLevel", "ExReleaseSpinLock", "ExReleaseSpinLockFromDpcLevel",
    "KefReleaseSpinLockFromDpcLevel", "KfReleaseSpinLock", "IoReleaseCancelSpinLock", "WdfSpinLockRelease",
    "NdisReleaseSpinLock", "NdisDprReleaseSpinLock", "StorPortReleaseSpinLock",
    "spin_unlock", "spin_unlock_irq", "spin_unlock_irqrestore", "spin_unlock_bh",
    "raw_spin_unlock", "raw_spin_unlock_irq", "raw_spin_unlock_irqrestore",
]
ACQUIRES = [
    "KeAcquireSpinLock", "KeAcquireSpinLockAtDpcLevel", "KeAcquireInStackQueuedSpinLock",
    "KeAcquireInStackQueuedSpinLockAtDpcLevel", "ExAcquireSpinLock", "ExAcquireSpinLockAtDpcLevel",
    "KfAcquireSpinLock", "IoAcquireCancelSpinLock", "WdfSpinLockAcquire", "NdisAcquireSpinLock",
    "NdisDprAcquireSpinLock", "StorPortAcquireSpinLock",
    "spin_lock", "spin_lock_irq", "spin_lock_irqsave", "spin_lock_bh",
]
COMPLETIONS = re.compile(r"\b(IoCompleteRequest|WdfRequestComplete\w*|usb_serial_port_softint|netif_wake_queue)\s*\(")


def calls(text, names):
    """(start, end) of each statement-level call `name(...)` in C source, outside comments and #define lines."""
    pattern = re.compile(r"(?<![\w.>])(" + "|".join(map(re.escape, names)) + r")\s*\(")
    masked = mask_comments(text)
    for m in pattern.finditer(masked):
        line_start = masked.rfind("\n", 0, m.start()) + 1
        if masked[line_start:m.start()].lstrip().startswith("#"):
            continue
        depth, i = 0, m.end() - 1
        while i < len(masked):
            if masked[i] == "(":
                depth += 1
            elif masked[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        end = i + 1
        # Only a call that is a statement of its own: `call(...);`.
        if not masked[end:].lstrip().startswith(";"):
            continue
        before = masked[line_start:m.start()].strip()
        if before and not before.endswith((";", "{", "}", ")", ":", "else")):
            continue
        yield m.start(), end


def mask_comments(text):
    """`text` with comments and string literals blanked (same length, newlines kept)."""
    out = list(text)
    for m in re.finditer(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", text, re.S):
        for i in range(m.start(), m.end()):
            if out[i] != "\n":
                out[i] = " "
    return "".join(out)


def function_spans(masked):
    """Rough (start, end) of top-level brace blocks: function bodies in C."""
    spans, depth, start = [], 0, 0
    for i, c in enumerate(masked):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, i))
    return spans


def mutation_sites(text, kind):
    if kind == "release":
        return list(calls(text, RELEASES))
    masked = mask_comments(text)
    spans = [s for s in function_spans(masked) if COMPLETIONS.search(masked, s[0], s[1])]
    return [c for c in calls(text, ACQUIRES) if any(a <= c[0] <= b for a, b in spans)]


def delete_call(text, start, end):
    kept_newlines = "\n" * text.count("\n", start, end)
    return text[:start] + "((void)0)" + kept_newlines + text[end:]


def findings(lockcheck, bitcode, args):
    out = subprocess.run([str(lockcheck), "check", str(bitcode), "--format", "json", *args],
                         capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "lockcheck failed")
    return {(Path(d["location"]["file"]).name, d["location"]["line"], d["rule"])
            for d in json.loads(out.stdout)["diagnostics"] if d.get("location")}


CALL = re.compile(r"^\s*(?:%\S+ = )?(?:tail |musttail |notail )?(?:call|invoke) [^@]*@(?!llvm\.)", re.M)


def call_count(bitcode):
    """Calls (not intrinsics) in a unit's bitcode: a deleted call that was
    compiled in leaves one fewer."""
    text = subprocess.run(["llvm-dis-22", "-o", "-", str(bitcode)], capture_output=True, text=True).stdout
    return len(CALL.findall(text))


def run_mutant(job):
    lockcheck, driver_dir, unit, units_in_order, args, baseline, text, (start, end), calls_before = job
    source = Path(unit["file"])
    line = text.count("\n", 0, start) + 1
    call = text[start:end].split("(")[0].strip()
    with tempfile.TemporaryDirectory(prefix="lockcheck-mutant-") as tmp:
        mutant = source.with_name(f".lockcheck-mutant-{os.getpid()}-{start}-{source.name}")
        mutant_bc = Path(tmp) / "unit.bc"
        linked = Path(tmp) / "driver.bc"
        try:
            mutant.write_text(delete_call(text, start, end))
            argv = list(unit["arguments"])
            argv = [str(mutant) if a in (unit["file"], source.name) else a for a in argv]
            argv[argv.index("-o") + 1] = str(mutant_bc)
            built = subprocess.run(argv, cwd=unit["directory"], capture_output=True)
        finally:
            mutant.unlink(missing_ok=True)
        if built.returncode != 0:
            return (driver_dir.name, source.name, line, call, "invalid")
        if call_count(mutant_bc) >= calls_before:
            return (driver_dir.name, source.name, line, call, "compiled-out")
        # The driver's units in their own order, as the corpus script linked
        # them: llvm-link names colliding statics by that order (`F.1776`),
        # and lockcheck.args may name them.
        outputs = [str(mutant_bc) if o == unit["output"] else o for o in units_in_order]
        plain = ["llvm-link-22", "-o", str(linked), *outputs]
        override = ["llvm-link-22", "-o", str(linked), outputs[0]] + [x for o in outputs[1:] for x in ("--override", o)]
        if all(subprocess.run(link, capture_output=True).returncode != 0 for link in (plain, override)):
            return (driver_dir.name, source.name, line, call, "invalid")
        try:
            found = findings(lockcheck, linked, args)
        except RuntimeError as e:
            print(f"mutate.py: {driver_dir.name}: {source.name}:{line}: {e}", file=sys.stderr)
            return (driver_dir.name, source.name, line, call, "error")
    renamed = {(source.name if f.startswith(".lockcheck-mutant-") else f, l, r) for f, l, r in found}
    return (driver_dir.name, source.name, line, call, "killed" if renamed - baseline else "survived")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--kind", choices=["release", "acquire"], default="release")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=0, help="at most N mutants (0: all)")
    parser.add_argument("--lockcheck", type=Path, default=REPO / "target/release/lockcheck")
    parser.add_argument("--no-entries", action="store_true", help="leave out lockcheck.args's --entry names")
    opts = parser.parse_args()
    drivers = opts.corpus / "drivers"
    if not drivers.is_dir():
        sys.exit(f"mutate.py: error: {drivers} does not exist (build the corpus first)")
    jobs = []
    for driver_dir in sorted(p for p in drivers.iterdir() if p.is_dir()):
        database, bitcode = driver_dir / "compile_commands.json", driver_dir / f"{driver_dir.name}.bc"
        if not database.exists() or not bitcode.exists() or (opts.only and driver_dir.name not in opts.only):
            continue
        args = driver_args(driver_dir, entries=not opts.no_entries)
        units = [u for u in json.loads(database.read_text()) if Path(u["output"]).exists()]
        baseline = None
        for unit in units:
            source = Path(unit["file"])
            if not source.exists():
                continue
            text = source.read_text(errors="replace")
            sites = mutation_sites(text, opts.kind)
            if not sites:
                continue
            if baseline is None:
                baseline = findings(opts.lockcheck, bitcode, args)
            in_order = [u["output"] for u in units]
            calls_before = call_count(unit["output"])
            jobs += [(opts.lockcheck, driver_dir, unit, in_order, args, baseline, text, s, calls_before) for s in sites]
    if opts.limit:
        jobs = jobs[:opts.limit]
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        results = list(pool.map(run_mutant, jobs))
    per_driver = {}
    for driver, file, line, call, verdict in results:
        verdicts = {"killed": 0, "survived": 0, "invalid": 0, "compiled-out": 0, "error": 0}
        per_driver.setdefault(driver, verdicts)[verdict] += 1
        print(f"{verdict:12} {driver}: {file}:{line} {call}")
    total = {v: sum(d[v] for d in per_driver.values()) for v in ("killed", "survived", "invalid", "compiled-out", "error")}
    print(f"\n{'driver':24} {'killed':>6} {'survived':>8} {'invalid':>7} {'compiled-out':>12}")
    for driver, d in sorted(per_driver.items()):
        print(f"{driver:24} {d['killed']:6} {d['survived']:8} {d['invalid']:7} {d['compiled-out']:12}")
    valid = total["killed"] + total["survived"]
    rate = 100.0 * total["killed"] / valid if valid else 0.0
    errors = f", {total['error']} lockcheck errors" if total["error"] else ""
    print(f"{opts.kind} mutants: {valid} valid ({total['invalid']} did not compile, {total['compiled-out']} compiled out{errors}), "
          f"{total['killed']} reported: {rate:.0f}% kill rate")


if __name__ == "__main__":
    main()
