#!/usr/bin/env bash
# Check the systemd unit with `systemd-analyze verify`.
#
#   scripts/check-unit.sh [UNIT]        default: contrib/ferry.service
#
# Exit 0 when verify prints nothing about the unit; 1 with its messages
# otherwise. Where systemd-analyze (or the system's own units, which verify
# loads for the unit's dependencies) is missing, it prints
# "systemd-analyze not available: skipped" and exits 0.
#
# How verify behaves (systemd 252, found by trying):
# - It checks that every Exec*= binary exists and is executable, so
#   /usr/bin/ferry must exist. We verify a copy of the unit, named
#   ferry.service (verify takes the unit's name from the file name), in a
#   temporary folder, with /usr/bin/ferry rewritten to a stand-in script
#   there (and /bin/kill too, where the machine has none). Lines keep their
#   numbers, and messages are shown with the real unit's path.
# - It exits 0 on warnings such as an unknown key or a value it cannot
#   parse ("Unknown key 'X' in section [Service], ignoring."), so any
#   message about the unit counts as a failure here, not just the exit code.
# - `--root=DIR` needs a whole unit tree (sysinit.target, ...) under DIR,
#   so it is not used.
# - It needs no running systemd (PID 1 need not be systemd, as in a
#   container) and no `ferry` user.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
unit="${1:-$repo/contrib/ferry.service}"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not available: skipped"
    exit 0
fi
# verify resolves After=/Wants= against the system's units; a machine with
# the tool but without systemd's own units cannot check anything.
if [ ! -e /lib/systemd/system/sysinit.target ] && [ ! -e /usr/lib/systemd/system/sysinit.target ]; then
    echo "systemd-analyze not available: skipped (no system units such as sysinit.target)"
    exit 0
fi
if [ ! -f "$unit" ]; then
    echo "check-unit: no such unit file: $unit" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Stand-ins for binaries the unit names that this machine may lack.
printf '#!/bin/sh\nexit 0\n' >"$tmp/ferry"
chmod 755 "$tmp/ferry"
subst="s#/usr/bin/ferry#$tmp/ferry#g"
if [ ! -x /bin/kill ]; then
    cp "$tmp/ferry" "$tmp/kill"
    subst="$subst; s#/bin/kill#$tmp/kill#g"
fi
name="$(basename "$unit")"
sed "$subst" "$unit" >"$tmp/$name"

set +e
out="$(cd "$tmp" && SYSTEMD_LOG_COLOR=0 SYSTEMD_LOG_LEVEL=info \
    systemd-analyze verify --man=no "$tmp/$name" 2>&1)"
rc=$?
set -e

# Show the messages with the real paths.
out="$(printf '%s' "$out" | sed "s#$tmp/$name#$unit#g; s#$tmp/ferry#/usr/bin/ferry#g; s#$tmp/kill#/bin/kill#g")"

# Messages about other units (the host's own, pulled in as dependencies) are
# not this unit's fault: shown, but not counted.
ours="$(printf '%s\n' "$out" | grep -F -e "$name" -e "$unit" || true)"
others="$(printf '%s\n' "$out" | grep -v -F -e "$name" -e "$unit" | grep -v '^$' || true)"
if [ -n "$others" ]; then
    echo "check-unit: messages about other units (ignored):"
    printf '%s\n' "$others" | sed 's/^/  /'
fi

if [ "$rc" -ne 0 ] || [ -n "$ours" ]; then
    echo "check-unit: systemd-analyze verify $unit: exit $rc" >&2
    [ -n "$ours" ] && printf '%s\n' "$ours" >&2
    exit 1
fi
echo "check-unit: $unit: ok (systemd-analyze verify, $(systemd-analyze --version | head -n1))"
