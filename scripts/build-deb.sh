#!/usr/bin/env bash
# Build the Debian package and check it.
#
#   scripts/build-deb.sh [--no-build]
#
# 1. builds the release binary (`cargo build --release --locked -p ferry`);
#    --no-build skips that and packages the target/release/ferry already
#    there (the script fails when there is none);
# 2. installs cargo-deb when `cargo deb` is missing (`cargo install
#    cargo-deb --locked`);
# 3. `cargo deb --no-build` (the package's layout is [package.metadata.deb]
#    in Cargo.toml; the maintainer scripts are contrib/debian/);
# 4. checks the .deb:
#    - `dpkg-deb --info`: the package's name, its Depends (adduser), its
#      maintainer scripts and that /etc/ferry/ferry.toml is a conffile;
#    - `dpkg-deb --contents`: the binary, the unit and the config, with
#      their modes;
#    - unpacked with `dpkg-deb -x` into a temporary folder: the unit passes
#      scripts/check-unit.sh, `usr/bin/ferry --version` runs, `ferry config
#      check` accepts the packaged config, and `ferry serve` with that config
#      on a free loopback port answers an IRC registration (NICK/USER) with
#      001, then stops cleanly on SIGTERM;
# 5. prints what it checked and the .deb's path (last line).
#
# Environment: CARGO_TARGET_DIR is honoured (cargo-deb honours it too).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

build=1
for arg in "$@"; do
    case "$arg" in
    --no-build) build=0 ;;
    -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
        exit 0
        ;;
    *)
        echo "build-deb: unknown argument: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bin="$target_dir/release/ferry"

step() { printf '\n== %s\n' "$*"; }
fail() {
    echo "build-deb: FAILED: $*" >&2
    exit 1
}
checked=()
ok() {
    echo "  ok: $*"
    checked+=("$*")
}

for tool in dpkg-deb cargo; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

if [ "$build" = 1 ]; then
    step "cargo build --release --locked -p ferry"
    cargo build --release --locked -p ferry
else
    step "--no-build: using $bin"
    [ -x "$bin" ] || fail "$bin does not exist (build it, or run without --no-build)"
fi

if ! cargo deb --version >/dev/null 2>&1; then
    step "cargo install cargo-deb --locked"
    cargo install cargo-deb --locked
fi

step "cargo deb --no-build ($(cargo deb --version))"
deb_out="$(cargo deb --no-build --locked)"
printf '%s\n' "$deb_out"
deb="$(printf '%s\n' "$deb_out" | tail -n1)"
[ -f "$deb" ] || fail "cargo deb printed no .deb path (got: $deb)"

tmp="$(mktemp -d)"
server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

step "dpkg-deb --info $deb"
dpkg-deb --info "$deb" | tee "$tmp/info"
field() { sed -n "s/^ $1: //p" "$tmp/info"; }
[ "$(field Package)" = ferry ] || fail "Package is '$(field Package)', not ferry"
ok "Package: ferry"
depends="$(field Depends)"
case "$depends" in
*adduser*) ok "Depends: $depends" ;;
*) fail "Depends does not name adduser: '$depends'" ;;
esac
for script in postinst prerm postrm conffiles; do
    grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$script( |$)" "$tmp/info" ||
        fail "the package has no $script"
done
ok "maintainer scripts postinst, prerm, postrm"
dpkg-deb --info "$deb" conffiles | grep -qx /etc/ferry/ferry.toml ||
    fail "/etc/ferry/ferry.toml is not a conffile"
ok "conffiles: /etc/ferry/ferry.toml"

step "dpkg-deb --contents $deb"
dpkg-deb --contents "$deb" | tee "$tmp/contents"
has() { # has MODE PATH: the package holds PATH with permissions MODE
    grep -Eq "^$1 .* \./$2\$" "$tmp/contents" || fail "no $2 with mode $1 in the package"
    ok "contents: $1 $2"
}
has -rwxr-xr-x usr/bin/ferry
has -rw-r--r-- lib/systemd/system/ferry.service
has -rw-r----- etc/ferry/ferry.toml
has -rw-r--r-- usr/share/doc/ferry/OPERATIONS.md

step "unpack (dpkg-deb -x) and run the packaged binary"
root="$tmp/root"
dpkg-deb -x "$deb" "$root"
ferry="$root/usr/bin/ferry"
conf="$root/etc/ferry/ferry.toml"

"$repo/scripts/check-unit.sh" "$root/lib/systemd/system/ferry.service"
ok "the packaged unit passes scripts/check-unit.sh"

version="$("$ferry" --version)"
echo "  $version"
ok "usr/bin/ferry --version: $version"

"$ferry" config check "$conf"
ok "ferry config check etc/ferry/ferry.toml"

# A free loopback port: the kernel's pick, else a random one nobody answers on.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        while :; do
            p=$((20000 + RANDOM % 40000))
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; break; }
        done
    fi
}
port="$(free_port)"
admin_port="$(free_port)"

mkdir "$tmp/data"
echo "  ferry serve --config etc/ferry/ferry.toml --data-dir <tmp> --listen 127.0.0.1:$port --admin $admin_port"
"$ferry" serve --config "$conf" --data-dir "$tmp/data" --listen "127.0.0.1:$port" \
    --admin "$admin_port" >"$tmp/serve.log" 2>&1 &
server_pid=$!

show_log() { sed 's/^/  | /' "$tmp/serve.log" >&2; }
# Wait (up to 10 s) for the port to accept connections.
up=0
for _ in $(seq 1 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        show_log
        fail "ferry serve exited at start"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
[ "$up" = 1 ] || { show_log; fail "nothing listens on 127.0.0.1:$port after 10 s"; }

# Register as an IRC client; the server must send 001 (RPL_WELCOME).
welcome=
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'NICK debcheck\r\nUSER debcheck 0 * :build-deb.sh\r\n' >&3
deadline=$((SECONDS + 10))
while [ "$SECONDS" -lt "$deadline" ] && IFS= read -r -t 10 line <&3; do
    line="${line%$'\r'}"
    case "$line" in
    PING\ *) printf 'PONG %s\r\n' "${line#PING }" >&3 ;;
    :*\ 001\ *)
        welcome="$line"
        break
        ;;
    esac
done
printf 'QUIT :checked\r\n' >&3 || true
exec 3>&- 3<&-
[ -n "$welcome" ] || { show_log; fail "no 001 reply to NICK/USER on 127.0.0.1:$port"; }
echo "  < $welcome"
ok "ferry serve on 127.0.0.1:$port answered NICK/USER with 001"

# The admin listener's health check answers 200.
exec 4<>"/dev/tcp/127.0.0.1/$admin_port"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&4
status_line=
IFS= read -r -t 10 status_line <&4 || true
exec 4>&- 4<&-
status_line="${status_line%$'\r'}"
case "$status_line" in
"HTTP/1.1 200 OK") ok "the admin listener on 127.0.0.1:$admin_port answered /healthz: $status_line" ;;
*) show_log; fail "/healthz on 127.0.0.1:$admin_port answered: ${status_line:-nothing}" ;;
esac

sleep 2 # run a little longer: no crash after the client leaves
kill -0 "$server_pid" 2>/dev/null || { show_log; fail "ferry serve died after the client quit"; }
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[ "$status" = 0 ] || { show_log; fail "ferry serve exited with status $status on SIGTERM"; }
ok "ferry serve stopped cleanly on SIGTERM (exit 0)"
echo "  server log:"
sed 's/^/  | /' "$tmp/serve.log"

step "checked"
for c in "${checked[@]}"; do echo "  - $c"; done
echo
echo "$deb"
