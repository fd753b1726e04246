# Shared set-up for the README's two commands and CI. Sourced, not run.
# Installs what a fresh Debian 12 machine lacks, and nothing it already has.

# Debian packages the build and the tests need. Each issue that brings a peer
# (pcscd, SoftHSM2, a modem on a pty) adds its package here.
KIOSK_APT_PACKAGES=(gcc libc6-dev pkg-config python3-gammu softhsm2 opensc openssl fontconfig fonts-dejavu-core
    libpcsclite-dev pcscd vsmartcard-vpcd systemd)

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

# Commands to run when the calling script exits, last registered first.
KIOSK_ON_EXIT=()
on_exit() {
    KIOSK_ON_EXIT=("$1" "${KIOSK_ON_EXIT[@]}")
    trap 'for c in "${KIOSK_ON_EXIT[@]}"; do eval "$c"; done' EXIT
}

# A pcscd of our own with one virtual reader ("Virtual PCD", from
# vsmartcard-vpcd) that the virtual CCCD card connects to on
# KIOSK_VPCD_PORT. Its socket is in target/pcscd/, seen by the PC/SC
# library through PCSCLITE_CSOCK_NAME; Debian's pcscd puts its socket in
# /run/pcscd whatever it is told, so as root it runs in a mount namespace of
# its own where /run is private and /run/pcscd is target/pcscd/run. The
# system's pcscd, if any, is left alone; ours stops when the script exits.
# With --optional (the demo), a pcscd that cannot start is said and skipped.
pcscd_skipped() { printf 'note: no card reader for the demo: %s\n' "$*" >&2; }

ensure_pcscd() {
    local fail=die
    [ "${1:-}" = --optional ] && fail=pcscd_skipped
    local dir="$PWD/target/pcscd" port
    port=$(python3 -c 'import socket
for _ in range(50):
    a, b = socket.socket(), socket.socket()
    try:
        a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b.bind(("127.0.0.1", p + 1))
    except OSError:
        continue
    finally:
        a.close(); b.close()
    print(p); break')
    [ -n "$port" ] || { $fail "no free port pair for the virtual reader"; return 1; }
    rm -rf "$dir" && mkdir -p "$dir/conf" "$dir/run"
    printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x%X\n' \
        "$port" "$port" > "$dir/conf/vpcd"
    if [ "$(id -u)" -eq 0 ] && unshare --mount --propagation private true 2>/dev/null; then
        unshare --mount --propagation private sh -c \
            'mount -t tmpfs kiosk-run /run && mkdir /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd --foreground -c "$2"' \
            sh "$dir/run" "$dir/conf" > "$dir/log" 2>&1 &
    elif [ ! -S /run/pcscd/pcscd.comm ]; then
        # No namespace: the system location, free since no pcscd runs.
        pcscd --foreground -c "$dir/conf" > "$dir/log" 2>&1 &
        ln -sf /run/pcscd/pcscd.comm "$dir/run/pcscd.comm"
    else
        $fail "pcscd already runs here and a private one needs root (unshare). Run as root, or stop the system pcscd."
        return 1
    fi
    local pid=$!
    on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
    local i
    for i in $(seq 100); do
        [ -S "$dir/run/pcscd.comm" ] && break
        kill -0 "$pid" 2>/dev/null || { $fail "pcscd did not start: $(cat "$dir/log")"; return 1; }
        sleep 0.1
    done
    [ -S "$dir/run/pcscd.comm" ] || { $fail "pcscd did not make its socket: $(cat "$dir/log")"; return 1; }
    export PCSCLITE_CSOCK_NAME="$dir/run/pcscd.comm" KIOSK_VPCD_PORT="$port"
}
