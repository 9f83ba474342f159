#!/usr/bin/env bash
# Install what the test suite needs beyond a Rust toolchain.
#
# Idempotent: safe to run on every `scripts/test.sh`. Debian packages are
# checked with `dpkg -s` first and only installed (via apt-get, which needs
# root) when missing. Add packages to DEBIAN_PACKAGES below as tests grow
# new needs; nothing in that list may be essential for a non-root developer
# who already has the tools.
set -euo pipefail

log() { echo "install-test-deps: $*" >&2; }

# ---------------------------------------------------------------------------
# DEBIAN_PACKAGES: space-separated Debian package names the tests need.
# ngircd: `ferry send` and `ferry chat` are tested against a stock IRC server
#   (tests/it/send.rs, tests/it/chat.rs).
# tmux: `ferry chat` runs in a real terminal in its tests (tests/it/chat.rs).
# prometheus: its `promtool check metrics` checks /metrics (tests/it/operations.rs).
# chromium, fonts-noto-cjk, fonts-noto-color-emoji: the web chat page in a
#   real browser, driven by playwright-core (tests/it/web.rs, tests/web/);
#   the fonts so Chinese and emoji show in its screenshots.
# postgresql: the PostgreSQL store is tested against a private server the
#   tests start themselves (crates/pgtest), as the postgres user this
#   package makes.
# nats-server: the cluster's bus (JetStream, KV), started by the cluster
#   tests themselves on loopback (crates/pgtest's natstest part).
DEBIAN_PACKAGES="ngircd tmux prometheus chromium fonts-noto-cjk fonts-noto-color-emoji postgresql nats-server"
# Packages installed only when their command is missing (a Node.js from
# elsewhere, with its own npm, is fine): command:package.
COMMAND_PACKAGES="node:nodejs npm:npm"
# ---------------------------------------------------------------------------

# Commands the tests (and scripts/irctest.sh) call directly.
REQUIRED_COMMANDS="python3 promtool node npm chromium"

missing=()
if [ -n "$DEBIAN_PACKAGES" ] && command -v dpkg >/dev/null 2>&1; then
    for pkg in $DEBIAN_PACKAGES; do
        # installed = dpkg knows it and its status line says "install ok installed"
        if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$pkg")
        fi
    done
elif [ -n "$DEBIAN_PACKAGES" ]; then
    log "no dpkg on this system; make sure these are installed: $DEBIAN_PACKAGES"
fi

if command -v dpkg >/dev/null 2>&1; then
    for pair in $COMMAND_PACKAGES; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # The downloaded .debs are not needed once installed (chromium's
        # alone are hundreds of MB); the build wants the disk.
        apt-get clean
    else
        log "missing Debian packages (need root to install): ${missing[*]}"
        log "run: sudo apt-get install ${missing[*]}"
        exit 1
    fi
fi

for cmd in $REQUIRED_COMMANDS; do
    command -v "$cmd" >/dev/null 2>&1 || { log "required command not found: $cmd"; exit 1; }
done

# npm packages of the browser tests (tests/web/package-lock.json), into
# tests/web/node_modules: only when missing or not the locked version.
web="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/web"
want="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packages"]["node_modules/playwright-core"]["version"])' "$web/package-lock.json")"
have="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$web/node_modules/playwright-core/package.json" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    log "installing playwright-core $want (npm ci in tests/web)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
