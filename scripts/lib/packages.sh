# Sourced by the setup and corpus scripts: `install_packages NAME PKG...`
# installs (apt, as root or through sudo) those of the Debian packages that
# are absent, so a second run installs nothing. NAME prefixes its messages.
install_packages() {
    local name="$1" p sudo=""
    shift
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    echo "$name: installing ${missing[*]}" >&2
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq || { echo "$name: apt-get update failed" >&2; exit 2; }
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { echo "$name: apt-get install ${missing[*]} failed" >&2; exit 2; }
}
