#!/usr/bin/env bash
# Builds spin-lock-heavy Linux 6.12 drivers as LLVM bitcode for lockcheck, in
# the shared corpus layout (/work/corpus/LAYOUT.md):
#
#   OUT/source                                   linux-source-6.12, configured and prepared
#   OUT/drivers/<driver>/compile_commands.json   per unit: directory, file, arguments, output
#   OUT/drivers/<driver>/bc/<unit path>.bc       each unit's bitcode
#   OUT/drivers/<driver>/<driver>.bc             llvm-link-22 of the units
#   OUT/drivers/<driver>/lockcheck.args          --rules <Linux pack> and one --entry per callback
#
# usage: scripts/corpus/linux.sh [--out DIR] [--drivers LIST] [--jobs N]
#
# LIST is comma-separated names from the DRIVERS table below (default: all).
# OUT defaults to ${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/linux.
# Safe to run again: packages, unpacking, configuration and `make prepare`
# are skipped when done, kbuild recompiles only what changed.
#
# How (see /work/shared/corpora/README.md for where each step comes from):
#   1. install the Debian packages (the kernel source is one: linux-source-6.12);
#   2. unpack /usr/src/linux-source-6.12.tar.xz into OUT/source;
#   3. x86_64 defconfig with every driver of the table enabled as a module
#      (one .config for any --drivers subset, so building another subset
#      later does not reconfigure and re-prepare the tree);
#   4. make prepare;
#   5. per unit, let kbuild compile it (make <unit>.o) and take kbuild's own
#      command from the .<unit>.o.cmd file it writes, turned into a bitcode
#      command (see BITCODE FLAGS); compile; link each driver;
#   6. list each driver's callbacks (scripts/corpus/linux/entries.py) into
#      lockcheck.args, with the Linux rule pack (scripts/corpus/linux/rules.yaml).
#
# BITCODE FLAGS: kbuild's flags, less the dependency file, -c and -o, plus
# `-g -Xclang -disable-llvm-optzns -c -emit-llvm`. The kernel is built at -O2
# and does not build at -O0 (it relies on constant folding and dead-code
# elimination); -disable-llvm-optzns keeps clang's -O2 front end but stops
# before LLVM's pipeline, so the IR is what a -fpass-plugin sees: one
# function per source function, each return its own, the inline spin_lock*
# wrappers still calls to the out-of-line _raw_spin_* functions.
set -euo pipefail

die() { echo "linux.sh: $*" >&2; exit 1; }
# Progress on stderr, with the seconds since the start (the CI slice's budget is tight).
say() { printf 'linux.sh: [%3ds] %s\n' "$SECONDS" "$*" >&2; }

repo="$(cd "$(dirname "$0")/../.." && pwd)"
pack="$repo/scripts/corpus/linux/rules.yaml"
entries_py="$repo/scripts/corpus/linux/entries.py"

# name | Kconfig symbols to enable as modules | units (relative to the source root)
# 8250 is the 8250 core with its port layer (8250_port.c is the 8250_base
# module, where the uart_ops and most of the port locking live).
# i8042 stays built in: x86 selects SERIO_I8042, so `-m` cannot lower it.
DRIVERS=(
    "8139too|8139TOO|drivers/net/ethernet/realtek/8139too.c"
    "8139cp|8139CP|drivers/net/ethernet/realtek/8139cp.c"
    "e100|E100|drivers/net/ethernet/intel/e100.c"
    "via-rhine|VIA_RHINE|drivers/net/ethernet/via/via-rhine.c"
    "8250|SERIAL_8250|drivers/tty/serial/8250/8250_core.c drivers/tty/serial/8250/8250_platform.c drivers/tty/serial/8250/8250_port.c"
    "i8042|SERIO_I8042|drivers/input/serio/i8042.c"
    "digi_acceleport|USB_SERIAL USB_SERIAL_DIGI_ACCELEPORT|drivers/usb/serial/digi_acceleport.c"
    "cypress_m8|USB_SERIAL USB_SERIAL_CYPRESS_M8|drivers/usb/serial/cypress_m8.c"
    "garmin_gps|USB_SERIAL USB_SERIAL_GARMIN|drivers/usb/serial/garmin_gps.c"
    "oti6858|USB_SERIAL USB_SERIAL_OTI6858|drivers/usb/serial/oti6858.c"
)

out=""
drivers_arg=""
jobs=2
while (($#)); do
    case "$1" in
        --out)     (($# >= 2)) || die "--out needs a directory"; out="$2"; shift 2 ;;
        --drivers) (($# >= 2)) || die "--drivers needs a comma-separated list"; drivers_arg="$2"; shift 2 ;;
        --jobs)    (($# >= 2)) || die "--jobs needs a number"; jobs="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: [--out DIR] [--drivers LIST] [--jobs N])" ;;
    esac
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, not '$jobs'"

# The selected table rows (checked before anything is created or installed).
selected=()
if [ -z "$drivers_arg" ]; then
    selected=("${DRIVERS[@]}")
else
    IFS=',' read -ra wanted <<<"$drivers_arg"
    for w in "${wanted[@]}"; do
        row=""
        for d in "${DRIVERS[@]}"; do [ "${d%%|*}" = "$w" ] && row="$d"; done
        [ -n "$row" ] || die "unknown driver '$w' (known: $(printf '%s\n' "${DRIVERS[@]}" | cut -d'|' -f1 | paste -sd,))"
        selected+=("$row")
    done
fi

out="${out:-${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/linux}"
mkdir -p "$out" || die "cannot create $out"
out="$(cd "$out" && pwd)"
src="$out/source"

# --- 1. packages -------------------------------------------------------------
# lld-22: LLVM=-22 makes kbuild look for ld.lld-22 even when it links
# nothing. libelf-dev: objtool, which kbuild runs on every object. flex,
# bison: the Kconfig parser. bc: timeconst.h in prepare. gcc: clang-22
# links kbuild's host tools against gcc's runtime files. The rest is what
# the kernel's build expects of a host (dwarves, rsync, cpio, kmod).
packages=(linux-source-6.12 clang-22 llvm-22 lld-22 libelf-dev libssl-dev bc flex bison dwarves
          rsync cpio kmod python3 make gcc xz-utils)
# shellcheck source=/dev/null
source "$repo/scripts/lib/packages.sh"
install_packages linux.sh "${packages[@]}"
tarball=/usr/src/linux-source-6.12.tar.xz
[ -f "$tarball" ] || die "$tarball missing although linux-source-6.12 is installed"

# --- 2. source ---------------------------------------------------------------
# Unpacked beside OUT/source and renamed, so an interrupted unpack is never
# taken for a finished one.
if [ ! -f "$src/Makefile" ]; then
    say "unpacking $tarball into $src"
    rm -rf "$out/.unpack"
    mkdir -p "$out/.unpack"
    tar -xJf "$tarball" -C "$out/.unpack" || die "cannot unpack $tarball"
    top=("$out/.unpack"/*)
    ((${#top[@]} == 1)) && [ -f "${top[0]}/Makefile" ] || die "$tarball does not hold one kernel tree"
    rm -rf "$src"
    mv "${top[0]}" "$src"
    rmdir "$out/.unpack"
fi

kmake() { make -C "$src" LLVM=-22 "$@"; }

# --- 3. configuration ----------------------------------------------------------
symbols=()
for d in "${DRIVERS[@]}"; do
    IFS='|' read -r _ syms _ <<<"$d"
    for s in $syms; do [[ " ${symbols[*]} " == *" $s "* ]] || symbols+=("$s"); done
done
configured() {
    local s
    for s in "${symbols[@]}"; do
        grep -Eq "^CONFIG_$s=[my]$" "$src/.config" 2>/dev/null || return 1
    done
}
if ! configured; then
    say "configuring (x86_64 defconfig + ${symbols[*]})"
    kmake -s defconfig >/dev/null || die "make defconfig failed"
    for s in "${symbols[@]}"; do "$src/scripts/config" --file "$src/.config" -m "$s"; done
    kmake -s olddefconfig >/dev/null || die "make olddefconfig failed"
    for s in "${symbols[@]}"; do
        grep -Eq "^CONFIG_$s=[my]$" "$src/.config" || die "CONFIG_$s did not stay enabled after olddefconfig (a dependency is off)"
    done
fi

# --- 4. prepare ------------------------------------------------------------------
# Generated headers, asm-offsets, fixdep and objtool: what compiling any unit
# needs. The stamp holds the .config it was made for.
stamp="$out/.prepared"
if ! cmp -s "$stamp" "$src/.config"; then
    say "make prepare"
    kmake -s -j"$jobs" prepare >/dev/null || die "make prepare failed (run 'make -C $src LLVM=-22 prepare' to see why)"
    cp "$src/.config" "$stamp"
fi

# --- 5. units --------------------------------------------------------------------
# kbuild compiles the objects (only those whose sources or flags changed) and
# records each command in .<unit>.o.cmd. One job: with -j2, kbuild can build
# the same single target twice at once (fixdep then fails on a missing .d).
objects=()
for d in "${selected[@]}"; do
    IFS='|' read -r _ _ units <<<"$d"
    for u in $units; do
        [ -f "$src/$u" ] || die "$u: no such file in $src"
        objects+=("${u%.c}.o")
    done
done
say "kbuild: ${#objects[@]} units"
if ! kmake -s -j1 "${objects[@]}" >"$out/kbuild.log" 2>&1; then
    tail -20 "$out/kbuild.log" >&2
    die "kbuild failed to compile the units (log: $out/kbuild.log)"
fi

# Writes compile_commands.json for one driver from the .o.cmd files, and
# prints each unit's bitcode command as a JSON array, one a line.
compdb() {
    python3 - "$src" "$1" "${@:2}" <<'PY'
import json, os, re, shlex, sys

src, driver_dir, units = sys.argv[1], sys.argv[2], sys.argv[3:]
entries = []
for unit in units:
    obj = unit[:-2] + '.o'
    cmd_file = os.path.join(src, os.path.dirname(obj), '.' + os.path.basename(obj) + '.cmd')
    try:
        text = open(cmd_file).read()
    except OSError as e:
        sys.exit(f'linux.sh: {cmd_file}: {e.strerror} (kbuild did not record the compile of {unit})')
    m = re.search(r'^savedcmd_\S+ := (.*)$', text, re.M)
    if not m:
        sys.exit(f'linux.sh: {cmd_file}: no savedcmd line')
    # kbuild chains objtool after the compile with ';'.
    args = shlex.split(m.group(1).split(' ; ')[0])
    kept, i = [], 0
    while i < len(args):
        a = args[i]
        if a == '-o':
            i += 2
            continue
        if a == '-c' or a.startswith('-Wp,-MMD') or a.startswith('-Wp,-MD'):
            i += 1
            continue
        kept.append(a)
        i += 1
    if not kept or kept[-1] != unit:
        sys.exit(f'linux.sh: {cmd_file}: the command does not end with {unit}')
    kept.pop()
    if os.path.basename(kept[0]) != 'clang-22':
        sys.exit(f'linux.sh: {cmd_file}: compiled with {kept[0]}, not clang-22')
    path = os.path.join(src, unit)
    output = os.path.join(driver_dir, 'bc', unit[:-2] + '.bc')
    kept += ['-g', '-Xclang', '-disable-llvm-optzns', '-c', '-emit-llvm', '-o', output, path]
    entries.append({'directory': src, 'file': path, 'output': output, 'arguments': kept})
with open(os.path.join(driver_dir, 'compile_commands.json'), 'w') as f:
    json.dump(entries, f, indent=1)
    f.write('\n')
for e in entries:
    print(json.dumps(e['arguments']))
PY
}

# Runs one JSON argument array (in $src): used through xargs.
export src
run_json() { python3 -c 'import json,os,sys; a=json.loads(sys.argv[1]); os.makedirs(os.path.dirname(a[a.index("-o")+1]), exist_ok=True); os.chdir(os.environ["src"]); os.execvp(a[0], a)' "$1"; }
export -f run_json

for d in "${selected[@]}"; do
    IFS='|' read -r name _ units <<<"$d"
    dir="$out/drivers/$name"
    mkdir -p "$dir"
    read -ra unit_list <<<"$units"
    cmds="$(compdb "$dir" "${unit_list[@]}")" || exit 1
    # One clang-22 per unit, $jobs at a time; xargs exits non-zero if any failed.
    if ! printf '%s\n' "$cmds" | tr '\n' '\0' | xargs -0 -n1 -P"$jobs" bash -c 'run_json "$0"' 2>"$dir/clang.log"; then
        cat "$dir/clang.log" >&2
        die "$name: clang-22 failed on a unit (log: $dir/clang.log)"
    fi
    bcs=()
    for u in "${unit_list[@]}"; do bcs+=("$dir/bc/${u%.c}.bc"); done
    # Kernel units share no non-static symbol within a module; static inline
    # helpers are internal, so a plain link cannot collide.
    llvm-link-22 "${bcs[@]}" -o "$dir/$name.bc" || die "$name: llvm-link-22 failed"

    # --- 6. lockcheck arguments -----------------------------------------------------
    entries="$(llvm-dis-22 "$dir/$name.bc" -o - | python3 "$entries_py")" || die "$name: entries.py failed"
    [ -n "$entries" ] || die "$name: no callbacks found in $name.bc"
    {
        printf -- '--rules\n%s\n' "$pack"
        printf -- '--entry\n%s\n' $entries
    } >"$dir/lockcheck.args"
    say "$name: ${#unit_list[@]} units, $(wc -w <<<"$entries") callbacks -> $dir/$name.bc"
done
