#!/usr/bin/env bash
# Benchmarks lockcheck against the parse floor on generated driver-shaped
# modules (scripts/gen-driver.py): per size, wall time and peak RSS of
#   floor   opt-22 -passes=no-op-module      (reading the bitcode alone)
#   cli     lockcheck check                  (read, prepare, analyse)
#   plugin  opt-22 -load-pass-plugin ... -passes=lockcheck
# and the ratios to the floor. Each figure is the best of $RUNS runs.
#
#   scripts/bench.sh                 # sizes 1000 10000 100000
#   scripts/bench.sh 1000 10000      # chosen sizes
#   RUNS=5 scripts/bench.sh
#
# Generated sources and bitcode are cached under target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
((${#sizes[@]})) || sizes=(1000 10000 100000)
runs=${RUNS:-3}
out=target/bench
mkdir -p "$out"

cli=target/release/lockcheck
plugin=target/release/liblockcheck.so
if [[ ! -x $cli || ! -f $plugin ]]; then
    cargo build --release --workspace --quiet
fi
ddk=(--target=x86_64-w64-mingw32 --sysroot=/usr/x86_64-w64-mingw32 -isystem /usr/share/mingw-w64/include/ddk)

# Best wall time (s) and peak RSS (MB) over $runs runs of a command.
measure() {
    local best_t="" best_m=""
    for ((r = 0; r < runs; r++)); do
        local stats=$out/time.txt
        /usr/bin/time -f "%e %M" -o "$stats" "$@" >/dev/null 2>&1 || true
        local line
        line=$(tail -1 "$stats")
        local t=${line% *} m=${line#* }
        if [[ -z $best_t ]] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
        if [[ -z $best_m ]] || ((m < best_m)); then best_m=$m; fi
    done
    echo "$best_t $((best_m / 1024))"
}

printf "%-8s %9s | %8s %7s | %8s %7s %6s %6s | %8s %7s %6s %6s\n" \
    functions "bitcode" "floor s" "MB" "cli s" "MB" "x t" "x mem" "plugin s" "MB" "x t" "x mem"
for n in "${sizes[@]}"; do
    src=$out/driver-$n.c
    bc=$out/driver-$n.bc
    if [[ ! -f $bc ]]; then
        python3 scripts/gen-driver.py "$n" "$src"
        clang-22 "${ddk[@]}" -w -g -O0 -Xclang -disable-O0-optnone -c -emit-llvm -o "$bc" "$src"
    fi
    read -r ft fm < <(measure opt-22 -passes=no-op-module -disable-output "$bc")
    read -r ct cm < <(measure "$cli" check "$bc")
    read -r pt pm < <(measure opt-22 -load-pass-plugin="$plugin" -passes=lockcheck -disable-output "$bc")
    size=$(du -h "$bc" | cut -f1)
    ratio() { awk "BEGIN{printf \"%.2f\", $1 / ($2 > 0 ? $2 : 0.001)}"; }
    printf "%-8s %9s | %8s %7s | %8s %7s %6s %6s | %8s %7s %6s %6s\n" "$n" "$size" "$ft" "$fm" \
        "$ct" "$cm" "$(ratio "$ct" "$ft")" "$(ratio "$cm" "$fm")" \
        "$pt" "$pm" "$(ratio "$pt" "$ft")" "$(ratio "$pm" "$fm")"
done
echo "(x t, x mem: time and peak RSS as multiples of the floor; targets: at most 1.5 and 2.0)"
