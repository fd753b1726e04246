# Shared set-up for the README's two commands and CI. Sourced, not run.
# Installs what a fresh Debian 12 machine lacks, and nothing it already has.

# Debian packages the build and the tests need. Each issue that brings a peer
# (pcscd, SoftHSM2, a modem on a pty) adds its package here.
KIOSK_APT_PACKAGES=(gcc libc6-dev pkg-config python3-gammu softhsm2 opensc openssl fontconfig fonts-dejavu-core)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found. Install Rust 1.92 or newer with rustup (https://rustup.rs), then run this again. Debian's own rustc is too old for this project."
}

ensure_packages() {
    local missing=() pkg
    for pkg in "${KIOSK_APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    printf 'Installing Debian packages: %s\n' "${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "could not install: ${missing[*]}"
}

# SoftHSM2 reads its configuration when a process first loads it: tokens
# made by the tests live under target/, never in /var/lib/softhsm.
export SOFTHSM2_CONF="${SOFTHSM2_CONF:-$PWD/target/softhsm/softhsm2.conf}"

# Two cores on the build machines: keep parallelism bounded everywhere.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# Python tools the tests run, in a virtualenv under target/ (never the
# system's site-packages), pinned.
KIOSK_PYTHON_TOOLS=(schemathesis==4.32.5)

ensure_python_tools() {
    local venv="$PWD/target/venv"
    if [ ! -x "$venv/bin/python" ]; then
        command -v python3 >/dev/null 2>&1 || ensure_packages python3
        python3 -m venv "$venv" 2>/dev/null || { ensure_packages python3-venv && python3 -m venv "$venv"; } \
            || die "could not create a Python virtualenv in $venv"
    fi
    local tool missing=()
    for tool in "${KIOSK_PYTHON_TOOLS[@]}"; do
        "$venv/bin/python" -m pip show "${tool%%==*}" 2>/dev/null | grep -qx "Version: ${tool##*==}" || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    printf 'Installing Python tools: %s\n' "${missing[*]}"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}" \
        || die "could not install: ${missing[*]}"
}
