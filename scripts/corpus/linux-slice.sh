#!/usr/bin/env bash
# The Linux corpus slice CI runs after the unit tests: lockcheck on a few real
# Linux 6.12 drivers must stay silent, and must find each defect injected by
# tests/linux/*.patch exactly where the patch says.
#
# usage: scripts/corpus/linux-slice.sh [--out DIR]
#
#   1. scripts/corpus/linux.sh builds the slice's drivers (OUT as linux.sh's:
#      ${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/linux; a full corpus
#      built there is reused);
#   2. each unmodified driver: no report;
#   3. each patch: applied to OUT/source (it must apply exactly: no fuzz, no
#      offset drift past what patch accepts), the patched unit compiled with
#      its own compile command into a scratch .bc, linked with the driver's
#      other units, checked; the reports must be exactly the patch's
#      `# expect: RULE FILE:LINE` lines (LINE in the patched file). The
#      source is restored right after, and at exit whatever happens.
#
# Prints one line per check and a closing "N passed, M failed"; exits 1 if
# any check failed. LOCKCHECK names the binary (default:
# target/release/lockcheck, built by scripts/setup.sh).
set -euo pipefail

die() { echo "linux-slice.sh: $*" >&2; exit 2; }

repo="$(cd "$(dirname "$0")/../.." && pwd)"
lockcheck="${LOCKCHECK:-$repo/target/release/lockcheck}"
patches_dir="$repo/tests/linux"
# Three drivers from three subsystems, one unit each (fast to build), with
# 12-26 spin-lock sites between them: a PCI NIC (IRQ handler, NAPI poll),
# a USB serial driver (tty callbacks, URB completions, a lock dropped
# inside a wait helper) and the PC keyboard controller (a global lock,
# exported functions).
slice_drivers="8139too,digi_acceleport,i8042"

out=""
while (($#)); do
    case "$1" in
        --out) (($# >= 2)) || die "--out needs a directory"; out="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: [--out DIR])" ;;
    esac
done
out="${out:-${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/linux}"
[ -x "$lockcheck" ] || die "$lockcheck not found: run scripts/setup.sh first (or set LOCKCHECK)"
shopt -s nullglob
patches=("$patches_dir"/*.patch)
((${#patches[@]})) || die "no patches in $patches_dir"

# A patched file's pristine copy waits here while the patch is in place; a
# run killed before restoring is repaired by the next one.
mkdir -p "$out"
out="$(cd "$out" && pwd)"
src="$out/source"
backup="$out/.slice-backup"
restore() {
    [ -d "$backup" ] || return 0
    (cd "$backup" && find . -type f -print0) | while IFS= read -r -d '' f; do
        cp -p "$backup/$f" "$src/$f"
    done
    rm -rf "$backup"
}
restore
trap restore EXIT
trap 'exit 130' INT TERM

"$repo/scripts/corpus/linux.sh" --out "$out" --drivers "$slice_drivers" \
    || die "scripts/corpus/linux.sh failed"

scratch="$(mktemp -d)"
trap 'restore; rm -rf "$scratch"' EXIT
passed=0
failed=0
pass() { echo "ok    $*"; passed=$((passed + 1)); }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }

# Runs lockcheck on BC with DRIVER's arguments, from the source root so files
# are reported as drivers/...; prints "RULE FILE:LINE" per report, sorted.
# Exit status 2 (an error) fails; 0 and 1 are results.
reports() {
    local driver="$1" bc="$2" args rc=0
    mapfile -t args <"$out/drivers/$driver/lockcheck.args"
    (cd "$src" && "$lockcheck" check "$bc" --format json -o "$scratch/report.json" "${args[@]}") \
        2>"$scratch/stderr" || rc=$?
    if ((rc > 1)); then
        echo "lockcheck failed: $(head -1 "$scratch/stderr")" >&2
        return 1
    fi
    python3 - "$scratch/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for d in sorted(report['diagnostics'], key=lambda d: (d['location']['file'], d['location']['line'])):
    print(f"{d['rule']} {d['location']['file']}:{d['location']['line']}")
PY
}

# --- unmodified drivers: no report ----------------------------------------------
IFS=',' read -ra drivers <<<"$slice_drivers"
for driver in "${drivers[@]}"; do
    if got="$(reports "$driver" "$out/drivers/$driver/$driver.bc")"; then
        if [ -z "$got" ]; then
            pass "$driver: no report on the unmodified driver"
        else
            fail "$driver: reports on the unmodified driver: $(paste -sd';' <<<"$got")"
        fi
    else
        fail "$driver: lockcheck did not run"
    fi
done

# --- injected defects -------------------------------------------------------------
for patch in "${patches[@]}"; do
    name="$(basename "$patch" .patch)"
    expected="$(sed -n 's/^# expect: *//p' "$patch" | sort)"
    files=($(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$patch"))
    if [ -z "$expected" ] || ((${#files[@]} != 1)); then
        fail "$name: needs '# expect: RULE FILE:LINE' lines and exactly one patched file"
        continue
    fi
    file="${files[0]}"
    # The driver whose compile database holds the patched file.
    driver=""
    for d in "${drivers[@]}"; do
        grep -q "\"file\": \"$src/$file\"" "$out/drivers/$d/compile_commands.json" && driver="$d"
    done
    if [ -z "$driver" ]; then
        fail "$name: $file is not a unit of the slice's drivers ($slice_drivers)"
        continue
    fi
    # --fuzz=0: a patch that no longer matches linux-source-6.12 exactly must
    # fail here, not apply somewhere else and test nothing.
    if ! patch -d "$src" -p1 --dry-run --fuzz=0 --forward --batch <"$patch" >"$scratch/patch.log" 2>&1; then
        fail "$name: no longer applies to $file: $(grep -m1 -iE 'hunk|reversed|can.t find' "$scratch/patch.log" || head -1 "$scratch/patch.log")"
        continue
    fi
    mkdir -p "$backup/$(dirname "$file")"
    cp -p "$src/$file" "$backup/$file"
    patch -d "$src" -p1 --fuzz=0 --forward --batch --quiet --no-backup-if-mismatch <"$patch"

    # The unit's own compile command, with the output moved to the scratch
    # directory; the driver's other units are linked as built.
    if ! python3 - "$out/drivers/$driver/compile_commands.json" "$src/$file" "$scratch/patched.bc" \
            "$scratch/others" <<'PY'; then
import json, subprocess, sys
db, file, bc, others = sys.argv[1:]
entries = json.load(open(db))
unit = next(e for e in entries if e['file'] == file)
args = list(unit['arguments'])
args[args.index('-o') + 1] = bc
run = subprocess.run(args, cwd=unit['directory'], capture_output=True, text=True)
if run.returncode:
    sys.stderr.write(run.stderr)
    sys.exit(1)
with open(others, 'w') as f:
    f.write(''.join(e['output'] + '\n' for e in entries if e['file'] != file))
PY
        restore
        fail "$name: the patched $file does not compile"
        continue
    fi
    restore
    mapfile -t other_bcs <"$scratch/others"
    if ! llvm-link-22 "$scratch/patched.bc" "${other_bcs[@]}" -o "$scratch/driver.bc"; then
        fail "$name: llvm-link-22 failed"
        continue
    fi
    if ! got="$(reports "$driver" "$scratch/driver.bc")"; then
        fail "$name: lockcheck did not run"
    elif [ "$got" = "$expected" ]; then
        pass "$name: $(paste -sd';' <<<"$got")"
    else
        fail "$name: expected [$(paste -sd';' <<<"$expected")], got [$(paste -sd';' <<<"$got")]"
    fi
done

echo "linux-slice: $passed passed, $failed failed"
((failed == 0))
