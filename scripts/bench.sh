#!/usr/bin/env bash
# Benchmarks lockcheck against the parse floor on generated driver-shaped
# modules (scripts/gen-driver.py): per size, wall time, CPU time and peak RSS of
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

# Best wall time (s), best CPU time (user + system, s) and peak RSS (MB)
# over $runs runs of a command. CPU time is the steadier figure on a loaded
# machine.
measure() {
    local best_t="" best_c="" best_m=""
    for ((r = 0; r < runs; r++)); do
        local stats=$out/time.txt times=$out/times.txt
        # bash's `time` for times to the millisecond (GNU time's are to the
        # centisecond, too coarse for the 1,000-function module), GNU time
        # for the peak RSS.
        { TIMEFORMAT="%3R %3U %3S"; time /usr/bin/time -f "%M" -o "$stats" "$@" >/dev/null 2>&1 || true; } 2>"$times"
        local t u s c m
        read -r t u s < <(tail -1 "$times")
        m=$(tail -1 "$stats")
        c=$(awk "BEGIN{printf \"%.3f\", $u + $s}")
        if [[ -z $best_t ]] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; fi
        if [[ -z $best_c ]] || awk "BEGIN{exit !($c < $best_c)}"; then best_c=$c; fi
        if [[ -z $best_m ]] || ((m < best_m)); then best_m=$m; fi
    done
    echo "$best_t $best_c $((best_m / 1024))"
}

row="%-8s %7s | %6s %6s %5s | %6s %6s %5s %5s %5s | %6s %6s %5s %5s %5s\n"
# shellcheck disable=SC2059
printf "$row" functions bitcode "floor s" cpu MB "cli s" cpu MB "x cpu" "x mem" "plugin" cpu MB "x cpu" "x mem"
ratio() { awk "BEGIN{printf \"%.2f\", $1 / ($2 > 0 ? $2 : 0.001)}"; }
for n in "${sizes[@]}"; do
    src=$out/driver-$n.c
    bc=$out/driver-$n.bc
    if [[ ! -f $bc ]]; then
        python3 scripts/gen-driver.py "$n" "$src"
        clang-22 "${ddk[@]}" -w -g -O0 -Xclang -disable-O0-optnone -c -emit-llvm -o "$bc" "$src"
    fi
    read -r ft fc fm < <(measure opt-22 -passes=no-op-module -disable-output "$bc")
    read -r ct cc cm < <(measure "$cli" check "$bc")
    read -r pt pc pm < <(measure opt-22 -load-pass-plugin="$plugin" -passes=lockcheck -disable-output "$bc")
    size=$(du -h "$bc" | cut -f1)
    # shellcheck disable=SC2059
    printf "$row" "$n" "$size" "$ft" "$fc" "$fm" \
        "$ct" "$cc" "$cm" "$(ratio "$cc" "$fc")" "$(ratio "$cm" "$fm")" \
        "$pt" "$pc" "$pm" "$(ratio "$pc" "$fc")" "$(ratio "$pm" "$fm")"
done
echo "(s: wall time; cpu: user + system time; x cpu, x mem: CPU time and peak RSS as multiples of the floor's;"
echo " targets: at most 1.5 and 2.0)"
