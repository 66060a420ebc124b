#!/usr/bin/env bash
# Builds the ReactOS kernel drivers as LLVM bitcode for lockcheck, in the
# shared corpus layout (/work/corpus/LAYOUT.md):
#
#   OUT/drivers/<driver>/compile_commands.json   per unit: arguments, output
#   OUT/drivers/<driver>/<driver>.bc             llvm-link-22 of the units
#   OUT/drivers/<driver>/lockcheck.args          --entry for its callbacks (see ENTRIES)
#   OUT/drivers/<driver>/failed.txt              units clang rejected (if any)
#   OUT/source -> DIR
#
# usage: scripts/corpus/reactos.sh --source DIR [--out DIR] [--arch amd64|i386] [--jobs N]
#
# DIR is a ReactOS checkout the user fetched beforehand: github:vgalnt/reactos
# at commit 0ffbbab5 or later. It is on GitHub only, not reachable from CI,
# so this script never downloads it. OUT defaults to
# ${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/reactos for amd64 and
# .../reactos-i386 for i386 (one module per driver and architecture: the
# two builds must not overwrite each other's bitcode).
#
# How (see /work/shared/corpora/README.md for where each step comes from):
#   1. install the Debian packages ReactOS's clang toolchain file needs;
#   2. configure OUT/build with ReactOS's toolchain-clang.cmake (compile
#      database exported);
#   3. build only the generated headers the drivers include (the
#      cmake_object_order_depends_target_<t> phony targets), not ReactOS;
#   4. per .sys link edge, take its objects (and those of the driver-support
#      static libraries it links, see LIBRARY SCOPE below), turn each C/C++
#      unit's database command into a bitcode command, compile (N jobs),
#      and link each driver with llvm-link-22.
# Units clang rejects are skipped, named on stderr and in failed.txt; the
# driver is linked from the rest.
#
# LIBRARY SCOPE: a driver's own objects are often not where its locking is
# (tcpip's queues live in sdk/lib/drivers/ip, acpi's in its acpica library),
# so the objects of static libraries built from drivers/ or sdk/lib/drivers/
# are part of the driver's module. Runtime libraries (sdk/lib/crt, pseh,
# uuid, zlib, ...) hold no driver locks and are left out, and so is the KMDF
# framework (sdk/lib/drivers/wdf): a KMDF driver reaches it only through the
# WdfFunctions table, which is what lockcheck models.
#
# WIN32K: win32ss/win32k.sys (the GUI subsystem, 154 units) calls no spin-lock
# API; it stays in the corpus as the largest module: routine discovery once
# ran out of memory on it (over 18 GB), and now takes about 10 s.
#
# ENTRIES: many ReactOS drivers are entered through callback tables lockcheck
# does not model (NDIS miniport and protocol characteristics, the USB port
# driver's miniport packet, IPRegisterProtocol, TDI event handlers, ...), so
# code reachable only from them would never be checked. Every function whose
# address the driver takes (stores or passes, rather than calls) is a
# callback somebody else calls with no lock of ours held, and is named with
# --entry in lockcheck.args; so is every function a library driver (ndis,
# ks, portcls, videoprt, ...) exports in its .def, which other drivers call
# holding none of its locks. Names with Acquire/Release/Lock/Unlock are left
# out (lock wrappers such as IoCsq or VideoPort lock callbacks return holding
# or release their caller's lock by design), and so are names with Cancel
# (cancel routines are found from IoSetCancelRoutine and entered holding the
# cancel lock; as --entry they would be entered holding nothing).
set -euo pipefail

die() { echo "reactos.sh: $*" >&2; exit 1; }
say() { echo "reactos.sh: $*" >&2; }

source_dir=""
out=""
arch="amd64"
jobs=2
while (($#)); do
    case "$1" in
        --source) (($# >= 2)) || die "--source needs a directory"; source_dir="$2"; shift 2 ;;
        --out)    (($# >= 2)) || die "--out needs a directory"; out="$2"; shift 2 ;;
        --arch)   (($# >= 2)) || die "--arch needs amd64 or i386"; arch="$2"; shift 2 ;;
        --jobs)   (($# >= 2)) || die "--jobs needs a number"; jobs="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: --source DIR [--out DIR] [--arch amd64|i386] [--jobs N])" ;;
    esac
done
[ -n "$source_dir" ] || die "--source DIR is required (a checkout of github:vgalnt/reactos, commit 0ffbbab5 or later)"
[ -f "$source_dir/toolchain-clang.cmake" ] && [ -d "$source_dir/drivers" ] \
    || die "$source_dir does not look like a ReactOS checkout (no toolchain-clang.cmake or drivers/)"
source_dir="$(cd "$source_dir" && pwd)"
case "$arch" in
    amd64) triplet=x86_64-w64-mingw32; suffix="" ;;
    i386)  triplet=i686-w64-mingw32;   suffix="-i386" ;;
    *) die "--arch must be amd64 or i386, not '$arch'" ;;
esac
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, not '$jobs'"
out="${out:-${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/reactos$suffix}"
mkdir -p "$out" || die "cannot create $out"
out="$(cd "$out" && pwd)"
build="$out/build"

# --- 1. packages -------------------------------------------------------------
# The toolchain file runs <triplet>-gcc as assembler, windres/windmc for
# resources and messages, and asks <triplet>-g++ for libgcc.a; the host tools
# (widl, geninc, ...) are built with the host gcc/g++; bison and flex build
# widl's parser.
packages=(cmake ninja-build bison flex python3 gcc g++ clang-22 llvm-22
          gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 g++-mingw-w64-x86-64 g++-mingw-w64-i686
          binutils-mingw-w64-x86-64 binutils-mingw-w64-i686)
# shellcheck source=/dev/null
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/packages.sh"
install_packages reactos.sh "${packages[@]}"
for tool in clang-22 llvm-link-22 llvm-dis-22 ninja cmake "$triplet-gcc" "$triplet-dlltool"; do
    command -v "$tool" >/dev/null || die "$tool not found after installing packages"
done

now() { date +%s.%N; }
took() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$1" "$(now)"; }

# --- 2. configure ------------------------------------------------------------
# __cpuid/__cpuidex: ReactOS's intrin headers and clang's builtins both
# define them; renaming ReactOS's pair avoids the redefinition errors.
# CMAKE_DLLTOOL: CMake would pick llvm-dlltool-22, which rejects the GNU
# flags ReactOS passes, and the import libraries the generated headers hang
# off would never be built.
t0="$(now)"
cpuid="-D__cpuid=__ros_cpuid -D__cpuidex=__ros_cpuidex"
cmake -G Ninja -S "$source_dir" -B "$build" -Wno-dev \
      -DCMAKE_TOOLCHAIN_FILE="$source_dir/toolchain-clang.cmake" \
      -DARCH="$arch" -DCLANG_VERSION=22 -DENABLE_CCACHE=0 \
      -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
      -DCMAKE_C_FLAGS="$cpuid" -DCMAKE_CXX_FLAGS="$cpuid" \
      -DCMAKE_DLLTOOL="/usr/bin/$triplet-dlltool" \
      >"$out/configure.log" 2>&1 || die "cmake configure failed: see $out/configure.log"
say "configure took $(took "$t0")"
ln -sfn "$source_dir" "$out/source"

# The rest is Python: ninja's graph, the compile database and the per-driver
# JSON are easier to get right there than in bash.
helper="$(cat <<'PY'
import concurrent.futures, json, os, re, shlex, shutil, subprocess, sys

def ninja(build, *args):
    r = subprocess.run(["ninja", "-C", build, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"reactos.sh: ninja {' '.join(args)} failed: {r.stderr.strip().splitlines()[-1:]}")
    return r.stdout

def edge(build, target):
    """The rule and the inputs of the edge building `target`: explicit
    inputs, then implicit ones (ninja prints those after '| ')."""
    rule, explicit, implicit = None, [], []
    for line in ninja(build, "-t", "query", target).splitlines():
        m = re.match(r"  input: (\S+)", line)
        if m:
            rule = m.group(1)
        elif line.startswith("  outputs:"):
            break
        elif rule and line.startswith("    | "):
            implicit.append(line[6:])
        elif rule and line.startswith("    ") and not line.startswith("    ||"):
            explicit.append(line.strip())
    return rule, explicit, implicit

LINK_RULE = re.compile(r"^(?:C|CXX)_(MODULE|STATIC)_LIBRARY_LINKER__(.+)_[A-Za-z]+$")
# Driver-support libraries whose code belongs in the driver's module (see
# LIBRARY SCOPE in reactos.sh); everything else a driver links is runtime.
LIB_SCOPE = re.compile(r"^(drivers|sdk/lib/drivers)/")
LIB_EXCLUDED = re.compile(r"^sdk/lib/drivers/wdf/")
SOURCE_EXT = (".c", ".cc", ".cpp", ".cxx")

def plan(build, out):
    """Every .sys link edge as {driver, targets (for the header step),
    units: [{object, directory, file, command}], other: [objects not
    C/C++]}; written to OUT/plan.json."""
    db = {}
    for e in json.load(open(os.path.join(build, "compile_commands.json"))):
        args = shlex.split(e["command"]) if "command" in e else e["arguments"]
        if "-o" not in args:          # resource compiles name their output otherwise
            continue
        obj = args[args.index("-o") + 1]
        db[os.path.normpath(os.path.join(e["directory"], obj))] = (e, args)
    drivers = []
    for line in ninja(build, "-t", "targets", "all").splitlines():
        path, _, rule = line.partition(": ")
        m = LINK_RULE.match(rule)
        if path.startswith("/") or not path.endswith(".sys") or not m or m.group(1) != "MODULE":
            continue
        _, objs, implicit = edge(build, path)
        targets = [m.group(2)]
        for lib in implicit:
            if not lib.endswith(".a") or not LIB_SCOPE.match(lib) or LIB_EXCLUDED.match(lib):
                continue
            lrule, lobjs, _ = edge(build, lib)
            lm = LINK_RULE.match(lrule or "")
            lobjs = [o for o in lobjs if o.endswith(".obj")]
            if lm and lm.group(1) == "STATIC" and lobjs:   # import libraries have no objects
                targets.append(lm.group(2))
                objs += lobjs
        units, other = [], []
        for o in objs:
            key = os.path.normpath(os.path.join(build, o))
            e = db.get(key)
            if e and e[0]["file"].endswith(SOURCE_EXT):
                units.append({"object": o, "directory": e[0]["directory"], "file": e[0]["file"], "command": e[1]})
            elif o.endswith(".obj"):
                other.append(o)
        exports = os.path.join(build, os.path.dirname(path), os.path.basename(path)[:-4] + ".def")
        # Named by CMake target, unique where file names are not (i386 builds
        # two vga.sys: vga_new and pc98vid).
        drivers.append({"driver": m.group(2), "sys": path, "targets": targets,
                        "units": units, "other": other,
                        "exports": exports if os.path.exists(exports) else None})
    names = [d["driver"] for d in drivers]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"reactos.sh: two .sys link edges share a CMake target name: {sorted(dup)}")
    json.dump(drivers, open(os.path.join(out, "plan.json"), "w"), indent=1)
    for d in drivers:
        for t in d["targets"]:
            print("cmake_object_order_depends_target_" + t)

# Flags taken out of the database's command: the object file and
# dependency-file flags (we name the output), the optimisation level (we
# want -O0 IR, what -fpass-plugin sees), and -ffile-prefix-map, which maps
# the source root away so the debug info would name files nobody can open.
DROP_WITH_VALUE = {"-o", "-MF", "-MT", "-MQ"}
DROP = {"-c", "-MD", "-MMD"}
def bitcode_args(cmd, output, file):
    args, i = [], 1          # cmd[0] is the compiler; clang-22/clang++-22 by name, as the DB has it
    compiler = "clang++-22" if os.path.basename(cmd[0]).startswith("clang++") else "clang-22"
    while i < len(cmd):
        a = cmd[i]
        if a in DROP_WITH_VALUE:
            i += 2
            continue
        i += 1
        if a in DROP or a == file or re.match(r"-O([0-3sgz]|fast)?$", a) \
           or a.startswith(("-ffile-prefix-map=", "-fdebug-prefix-map=", "-fmacro-prefix-map=")):
            continue
        args.append(a)
    # clang >= 16 made these errors; the 2020s ReactOS tree still has them.
    werr = ["-Wno-error=incompatible-pointer-types", "-Wno-error=implicit-function-declaration",
            "-Wno-error=int-conversion"]
    return [compiler, *args, *werr, "-c", "-emit-llvm", "-g", "-O0", "-Xclang", "-disable-O0-optnone",
            "-o", output, file]

def unit_output(drv_dir, obj):
    # drivers/x/CMakeFiles/t.dir/sub/f.c.obj -> units/t/sub/f.c.bc: short, unique per target.
    m = re.match(r"(?:.*/)?CMakeFiles/([^/]+)\.dir/(.+)\.obj$", obj)
    rel = os.path.join(m.group(1), m.group(2)) if m else obj[:-4]
    return os.path.join(drv_dir, "units", rel + ".bc")

def compile_unit(job):
    args, directory, output = job
    os.makedirs(os.path.dirname(output), exist_ok=True)
    stamp = output + ".args"
    # Re-running the script only recompiles units whose command changed or
    # whose bitcode is missing or older than the source.
    if os.path.exists(output) and os.path.exists(stamp) and open(stamp).read() == json.dumps(args) \
       and os.path.getmtime(output) >= os.path.getmtime(args[-1]):
        return output, None
    r = subprocess.run(args, cwd=directory, capture_output=True, text=True)
    if r.returncode != 0:
        if os.path.exists(output):
            os.remove(output)
        errs = [l for l in r.stderr.splitlines() if "error:" in l]
        return output, (errs[0] if errs else r.stderr.strip()[-300:])
    open(stamp, "w").write(json.dumps(args))
    return output, None

def link(drv_dir, name, outputs):
    bc = os.path.join(drv_dir, name + ".bc")
    if not outputs:
        return "no unit compiled"
    r = subprocess.run(["llvm-link-22", "-o", bc, *outputs], capture_output=True, text=True)
    if r.returncode != 0:
        # Units of one driver may both define a header's inline helper
        # (gnu_inline, selectany): keep the first definition's body.
        over = [outputs[0]] + [x for o in outputs[1:] for x in ("--override", o)]
        r = subprocess.run(["llvm-link-22", "-o", bc, *over], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip().splitlines()[0]
    return None

# Lock wrappers and cancel routines are not entries: see ENTRIES in the header.
WRAPPER = re.compile(r"Acquire|Release|Lock|Unlock|Cancel|_lock|_unlock")
def exported(def_file):
    """The implementing functions of a generated .def's EXPORTS section
    (` Name @1`, ` Name=Impl@8 @2` on i386), without stdcall decoration."""
    names, in_exports = [], False
    for line in open(def_file):
        if line.startswith("EXPORTS"):
            in_exports = True
        elif in_exports and line.strip() and not line.lstrip().startswith(";"):
            names.append(re.sub(r"@\d+$", "", line.split()[0].split("=")[-1]))
    return names

def display_name(symbol):
    """x86 stdcall/fastcall symbols are `\\01_Name@8` in the IR; --entry takes
    the plain name (the DOMAIN notes' normalisation)."""
    if symbol.startswith("\\01"):
        plain = symbol[3:]
        if plain[:1] in ("_", "@"):
            plain = plain[1:]
        return re.sub(r"@\d+$", "", plain)
    return symbol

def routine_entries(bc, def_file):
    """See ENTRIES in reactos.sh: address-taken functions (a defined function
    used other than as a direct callee: @F followed by something else than
    "(", or @F( not preceded by call/invoke, a cast) and exports."""
    ir = subprocess.run(["llvm-dis-22", bc, "-o", "-"], capture_output=True, text=True, check=True).stdout
    defined = set(re.findall(r'^define [^@]*@("[^"]+"|[\w.$]+)\(', ir, re.M))
    taken = set()
    for line in ir.splitlines():
        if line.startswith(("define", "declare", "!", ";")):
            continue
        for m in re.finditer(r'@("[^"]+"|[\w.$]+)(.)', line):
            if m.group(1) not in defined:
                continue
            if m.group(2) != "(" or not re.search(r"\b(call|invoke)\b[^@]*$", line[:m.start()]):
                taken.add(display_name(m.group(1).strip('"')))
    if def_file:
        plain = {display_name(d.strip('"')) for d in defined}
        taken.update(n for n in exported(def_file) if n in plain)
    return sorted(t for t in taken if not WRAPPER.search(t))

def build_bitcode(out, jobs):
    drivers = json.load(open(os.path.join(out, "plan.json")))
    jobs_list, per_driver, exports = [], {}, {}
    for d in drivers:
        drv_dir = os.path.join(out, "drivers", d["driver"])
        os.makedirs(drv_dir, exist_ok=True)
        entries = []
        for u in d["units"]:
            output = unit_output(drv_dir, u["object"])
            args = bitcode_args(u["command"], output, u["file"])
            entries.append({"directory": u["directory"], "file": u["file"], "output": output, "arguments": args})
            jobs_list.append((args, u["directory"], output))
        json.dump(entries, open(os.path.join(drv_dir, "compile_commands.json"), "w"), indent=1)
        per_driver[d["driver"]] = (drv_dir, entries)
        exports[d["driver"]] = d["exports"]
    failed = {}
    done = 0
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for output, err in pool.map(compile_unit, jobs_list):
            done += 1
            if err:
                failed[output] = err
            if sys.stderr.isatty():
                print(f"\rreactos.sh: compiled {done}/{len(jobs_list)}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    # Drivers this run did not plan (a source tree that lost one) must not
    # leave stale bitcode behind for the corpus runner.
    for stale in sorted(os.listdir(os.path.join(out, "drivers"))):
        if stale not in per_driver and os.path.exists(os.path.join(out, "drivers", stale, "compile_commands.json")):
            shutil.rmtree(os.path.join(out, "drivers", stale))
    totals = {"drivers": 0, "units": 0, "compiled": 0, "failed": 0, "unlinked": []}
    for name, (drv_dir, entries) in sorted(per_driver.items()):
        ok = [e["output"] for e in entries if e["output"] not in failed]
        bad = [e for e in entries if e["output"] in failed]
        fpath = os.path.join(drv_dir, "failed.txt")
        if bad:
            with open(fpath, "w") as f:
                for e in bad:
                    print(f"{e['file']}: {failed[e['output']]}", file=f)
                    print(f"reactos.sh: {name}: skipped {e['file']}: {failed[e['output']]}", file=sys.stderr)
        elif os.path.exists(fpath):
            os.remove(fpath)
        err = link(drv_dir, name, ok)
        if err:
            totals["unlinked"].append(name)
            print(f"reactos.sh: {name}: not linked: {err}", file=sys.stderr)
        else:
            totals["drivers"] += 1
            with open(os.path.join(drv_dir, "lockcheck.args"), "w") as f:
                for routine in routine_entries(os.path.join(drv_dir, name + ".bc"), exports[name]):
                    print("--entry", file=f)
                    print(routine, file=f)
        totals["units"] += len(entries)
        totals["compiled"] += len(ok)
        totals["failed"] += len(bad)
    print(f"reactos.sh: {totals['drivers']} drivers linked, {totals['compiled']} of {totals['units']} units "
          f"compiled, {totals['failed']} failed" +
          (f"; not linked: {' '.join(totals['unlinked'])}" if totals["unlinked"] else ""), file=sys.stderr)

if __name__ == "__main__":
    if sys.argv[1] == "plan":
        plan(sys.argv[2], sys.argv[3])
    else:
        build_bitcode(sys.argv[2], int(sys.argv[3]))
PY
)"

# --- 3. generated headers ----------------------------------------------------
# The object-order phony targets build exactly what a target's compiles wait
# for (host tools, message-compiler, IDL and asm-offset headers), no objects.
t0="$(now)"
targets="$(python3 -c "$helper" plan "$build" "$out")" || exit 1
# shellcheck disable=SC2086  # one target a word
ninja -C "$build" $targets >"$out/headers.log" 2>&1 || die "building the generated headers failed: see $out/headers.log"
say "generated headers took $(took "$t0")"

# --- 4. bitcode --------------------------------------------------------------
t0="$(now)"
python3 -c "$helper" bitcode "$out" "$jobs" || exit 1
say "bitcode build took $(took "$t0")"
