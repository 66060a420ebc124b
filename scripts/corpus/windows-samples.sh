#!/usr/bin/env bash
# Build Microsoft's Windows-driver-samples and the WDK 7.1 SDV fail drivers to LLVM bitcode in
# the shared corpus layout (/work/corpus/LAYOUT.md), for lockcheck's corpus runs.
#
#   scripts/corpus/windows-samples.sh --samples DIR --wdk DIR --wdf DIR [--out DIR] [--only REGEX] [-j N]
#
#   --samples  a checkout of github:microsoft/Windows-driver-samples
#   --wdk      a checkout of github:9176324/WinDDK (WDK 7600.16385.1: the WDK 7.1 headers and
#              tools/sdv/samples/fail_drivers)
#   --wdf      a checkout of github:microsoft/Windows-Driver-Frameworks (KMDF 1.33 headers)
#   --out      default ${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/windows-samples
#
# The WDK 7.1 SDV fail drivers go into the same OUT, named sdv71.<model>.<driver>; the newer SDV
# fail drivers of the samples tree keep their tree names (tools.sdv.samples.SDV-FailDriver-*).
# Nothing is written outside OUT: stand-ins for the headers Microsoft's build tools generate
# are made under OUT/stubs. The work is in windows_samples.py; this wrapper checks the tools.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${LOCKCHECK_CORPUS:-$HOME/.cache/lockcheck-corpus}/windows-samples"
samples="" wdk="" wdf="" passthrough=()

die() { echo "windows-samples.sh: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples="${2:?--samples needs a directory}"; shift 2 ;;
        --wdk) wdk="${2:?--wdk needs a directory}"; shift 2 ;;
        --wdf) wdf="${2:?--wdf needs a directory}"; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --only|-j|--jobs) passthrough+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$samples" ] && [ -n "$wdk" ] && [ -n "$wdf" ] || die "--samples, --wdk and --wdf are required"
for d in "$samples" "$wdk" "$wdf"; do [ -d "$d" ] || die "no such directory: $d"; done

# The mingw-w64 DDK headers are one of the three header set-ups; Debian ships them.
# shellcheck source=/dev/null
source "$here/../lib/packages.sh"
install_packages windows-samples.sh python3 mingw-w64-x86-64-dev
for tool in clang-22 llvm-link-22; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh installs LLVM 22)"
done

mkdir -p "$out"
exec python3 "$here/windows_samples.py" --samples "$samples" --wdk "$wdk" --wdf "$wdf" \
    --out "$out" "${passthrough[@]+"${passthrough[@]}"}"
