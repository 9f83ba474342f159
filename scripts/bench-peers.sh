#!/usr/bin/env bash
# ferry beside its peers: ngircd, InspIRCd and ircd-hybrid (Debian's
# packages), every scenario of `ferry bench` against each, then presence
# and offline against ferry alone. Server on core 0, generator on core 1,
# a fresh server for every run, REPEATS runs of each; medians and spread
# in OUT/table.md.
#
#   scripts/bench-peers.sh [FERRY_BINARY] [OUT_DIR]
#
# FERRY_BINARY defaults to target/release/ferry (`cargo build --release`);
# OUT_DIR to bench-peers/. Environment:
#   REPEATS=2             runs of each scenario on each server
#   SERVERS="ngircd inspircd hybrid ferry"
#   SCENARIOS="idle reg dm-10000 dm-20000 fanout-1000 dm-max fanout-max presence-plain presence-scram offline offline-2000"
#   QUIET_WAIT=60         seconds to wait for an idle machine before each run
#   PEERS_DIR=/tmp/ferry-peers   where ircd-hybrid is unpacked, configs and logs
#   SKIP_INSTALL=1        do not install anything
#
# Installing needs root (or password-less sudo): apt-get install ngircd
# inspircd libltdl7; ircd-hybrid conflicts with ngircd as a package, so it
# is downloaded (apt-get download) and unpacked into PEERS_DIR, and since it
# loads its core modules only from its compiled-in /usr/lib/ircd-hybrid,
# that path is made a symlink to the unpacked modules (if nothing is there).
# ircd-hybrid resolves every client's address, with no option to turn that
# off: it runs in a private mount namespace whose /etc/resolv.conf names
# 127.0.0.1, where a stub (python3) answers every query NXDOMAIN at once, so
# no lookup ever leaves the machine. The peers run as user `irc` (hybrid and
# InspIRCd refuse root).
#
# Equivalent configurations: loopback only, no flood control or fake lag,
# no per-address or per-network connection limits, no connect throttling,
# 256 KiB send queues, 100 channels per user, no DNS or ident lookups,
# ping intervals of 10 minutes. ferry: its defaults plus
# `[limits] exempt = ["127.0.0.0/8", "::1"]` (history on, as by default),
# and for `offline` a per-account offline cap of 1,000,000.
set -euo pipefail

FERRY=${1:-target/release/ferry}
OUT=${2:-bench-peers}
REPEATS=${REPEATS:-2}
SERVERS=${SERVERS:-"ngircd inspircd hybrid ferry"}
SCENARIOS=${SCENARIOS:-"idle reg dm-10000 dm-20000 fanout-1000 dm-max fanout-max presence-plain presence-scram offline offline-2000"}
QUIET_WAIT=${QUIET_WAIT:-60}
PEERS_DIR=${PEERS_DIR:-/tmp/ferry-peers}
PORT=${PORT:-16680}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
# Servers and the generator may open as many files as the machine lets them.
ulimit -n "$(ulimit -Hn)"
FERRY=$(readlink -f "$FERRY")
HYBRID_DIR=$PEERS_DIR/hybrid
HYBRID=$HYBRID_DIR/usr/sbin/ircd-hybrid
RUN_USER=irc

# ---------------------------------------------------------------- install

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        echo "need root or password-less sudo to run: $*" >&2
        exit 1
    fi
}

install_peers() {
    local want=()
    command -v ngircd >/dev/null || [[ -x /usr/sbin/ngircd ]] || want+=(ngircd)
    [[ -x /usr/sbin/inspircd ]] || want+=(inspircd)
    [[ -e /usr/lib/x86_64-linux-gnu/libltdl.so.7 || -e /usr/lib/libltdl.so.7 ]] ||
        ldconfig -p 2>/dev/null | grep -q libltdl.so.7 || want+=(libltdl7)
    if ((${#want[@]})) || [[ ! -x $HYBRID ]]; then
        as_root apt-get update -q
    fi
    if ((${#want[@]})); then
        # The packages' services are not wanted: the bench starts its own.
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}"
    fi
    if [[ ! -x $HYBRID ]]; then
        mkdir -p "$PEERS_DIR/debs"
        (cd "$PEERS_DIR/debs" && as_root apt-get download ircd-hybrid)
        as_root dpkg -x "$PEERS_DIR"/debs/ircd-hybrid_*.deb "$HYBRID_DIR"
    fi
    if [[ ! -e /usr/lib/ircd-hybrid ]]; then
        as_root ln -s "$HYBRID_DIR/usr/lib/ircd-hybrid" /usr/lib/ircd-hybrid
    fi
    id "$RUN_USER" >/dev/null
}

if [[ -z ${SKIP_INSTALL:-} ]]; then
    install_peers
fi
chmod o+rx "$PEERS_DIR" 2>/dev/null || true

version_of() {
    case $1 in
        ngircd) dpkg-query -W -f '${Version}' ngircd 2>/dev/null || echo ? ;;
        inspircd) dpkg-query -W -f '${Version}' inspircd 2>/dev/null || echo ? ;;
        hybrid) basename "$PEERS_DIR"/debs/ircd-hybrid_*.deb .deb | sed 's/^ircd-hybrid_//; s/%3a/:/' ;;
        ferry) git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo ? ;;
    esac
}

# ---------------------------------------------------------------- DNS stub

dns_pid=""
start_dns_stub() {
    [[ -n $dns_pid ]] && return
    cat >"$PEERS_DIR/dnsstub.py" <<'EOF'
# Answers every DNS query on 127.0.0.1:53 at once with NXDOMAIN.
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    data, addr = s.recvfrom(4096)
    if len(data) < 12:
        continue
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    s.sendto(struct.pack("!HHHHHH", qid, 0x8083 | (flags & 0x0100), qd, 0, 0, 0) + data[12:], addr)
EOF
    python3 "$PEERS_DIR/dnsstub.py" &
    dns_pid=$!
    echo "nameserver 127.0.0.1" >"$PEERS_DIR/resolv.conf"
    sleep 0.3
    kill -0 "$dns_pid" || { echo "DNS stub did not start (127.0.0.1:53 taken?)" >&2; exit 1; }
}

# ---------------------------------------------------------------- servers

server_pid=""
run_dir=""
stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    [[ -n $run_dir ]] && rm -rf "$run_dir"
    run_dir=""
}
cleanup() {
    stop_server
    if [[ -n $dns_pid ]]; then kill "$dns_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

as_irc() {
    setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups "$@"
}

write_config() {
    local server=$1 scenario=$2 d=$run_dir
    case $server in
        ferry)
            printf '[limits]\nexempt = ["127.0.0.0/8", "::1"]\n' >"$d/ferry.toml"
            if [[ $scenario == offline* ]]; then
                printf '[accounts]\noffline_max_messages = 1000000\n' >>"$d/ferry.toml"
            fi
            ;;
        ngircd)
            cat >"$d/ngircd.conf" <<EOF
[Global]
	Name = ngircd.bench
	Info = ferry bench peer
	Listen = 127.0.0.1
	Ports = $PORT
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 100
	MaxNickLength = 30
	MaxPenaltyTime = 0
	PingTimeout = 600
	PongTimeout = 600
[Options]
	DNS = no
	Ident = no
	PAM = no
EOF
            ;;
        inspircd)
            echo "ferry bench" >"$d/motd"
            cat >"$d/inspircd.conf" <<EOF
<server name="inspircd.bench" description="ferry bench peer" network="bench">
<admin name="bench" nick="bench" email="root@localhost">
<bind address="127.0.0.1" port="$PORT" type="clients">
<connect name="bench" allow="*" resolvehostnames="no" useident="no"
         maxchans="100" timeout="60" pingfreq="600"
         hardsendq="262144" softsendq="262144" recvq="8192"
         threshold="1000000" commandrate="1000000000" fakelag="off"
         localmax="1000000" globalmax="1000000" maxconnwarn="off" limit="1000000">
<performance netbuffersize="10240" somaxconn="4096" softlimit="19900" clonesonconnect="no" quietbursts="yes">
<security announceinvites="ops" maxtargets="4">
<limits maxnick="30" maxchan="64">
<dns server="127.0.0.1" timeout="1">
<pid file="$d/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="sparse" target="$d/inspircd.log">
<files motd="$d/motd">
EOF
            ;;
        hybrid)
            cat >"$d/ircd.conf" <<EOF
serverinfo {
	name = "hybrid.bench";
	description = "ferry bench peer";
	network_name = "bench";
	network_description = "bench";
	hub = no;
	default_max_clients = 19900;
	max_nick_length = 15;
};
admin { name = "bench"; description = "bench"; email = "<root@localhost>"; };
class {
	name = "users";
	ping_time = 10 minutes;
	number_per_ip_local = 1000000;
	number_per_ip_global = 1000000;
	max_number = 1000000;
	cidr_bitlen_ipv4 = 24;
	cidr_bitlen_ipv6 = 120;
	number_per_cidr = 1000000;
	sendq = 256 kbytes;
	recvq = 8000 bytes;
	max_channels = 100;
};
listen { host = "127.0.0.1"; port = $PORT; };
auth { user = "*@*"; class = "users"; flags = exceed_limit, can_flood, kline_exempt, xline_exempt, resv_exempt, no_tilde; };
exempt { ip = "127.0.0.0/8"; };
channel { max_channels = 100; default_join_flood_count = 0; default_join_flood_time = 0 seconds; };
general {
	disable_auth = yes;
	throttle_count = 1000000;
	throttle_time = 0;
	default_floodcount = 0;
	default_floodtime = 0;
	anti_nick_flood = no;
	ping_cookie = no;
	max_targets = 4;
	max_monitor = 100;
	pace_wait = 0 seconds;
	pace_wait_simple = 0 seconds;
};
modules {
	path = "$HYBRID_DIR/usr/lib/ircd-hybrid/modules";
	path = "$HYBRID_DIR/usr/lib/ircd-hybrid/modules/autoload";
};
log { use_logging = no; };
EOF
            ;;
    esac
}

start_server() {
    local server=$1 scenario=$2
    run_dir=$(mktemp -d "$PEERS_DIR/run.XXXXXX")
    chmod 755 "$run_dir"
    write_config "$server" "$scenario"
    local log=$OUT/server-$server.log
    case $server in
        ferry)
            taskset -c 0 "$FERRY" serve --config "$run_dir/ferry.toml" --listen "127.0.0.1:$PORT" \
                --data-dir "$run_dir/data" >"$log" 2>&1 &
            ;;
        ngircd)
            chown -R "$RUN_USER" "$run_dir"
            # -n logs every connection to the terminal: /dev/null costs least.
            taskset -c 0 setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups \
                /usr/sbin/ngircd -n -f "$run_dir/ngircd.conf" >/dev/null 2>&1 &
            ;;
        inspircd)
            chown -R "$RUN_USER" "$run_dir"
            taskset -c 0 setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups \
                /usr/sbin/inspircd --nofork --config="$run_dir/inspircd.conf" >"$log" 2>&1 &
            ;;
        hybrid)
            start_dns_stub
            chown -R "$RUN_USER" "$run_dir"
            # unshare, sh and setpriv each exec the next: $! is the ircd.
            taskset -c 0 unshare -m sh -c "mount --bind '$PEERS_DIR/resolv.conf' /etc/resolv.conf && \
                exec setpriv --reuid=$RUN_USER --regid=$RUN_USER --init-groups '$HYBRID' -foreground \
                -configfile '$run_dir/ircd.conf' -klinefile '$run_dir/kline.db' \
                -dlinefile '$run_dir/dline.db' -xlinefile '$run_dir/xline.db' \
                -resvfile '$run_dir/resv.db' -logfile '$run_dir/ircd.log' \
                -pidfile '$run_dir/ircd.pid'" >"$log" 2>&1 &
            ;;
    esac
    server_pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            sleep 0.2
            return
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$server did not start; see $log" >&2
    return 1
}

# ---------------------------------------------------------------- load

busy_pct() {
    local a b
    a=($(head -1 /proc/stat))
    sleep 1
    b=($(head -1 /proc/stat))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    local idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $((100 * (total - idle) / (total > 0 ? total : 1)))
}

compiling() {
    pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null
}

wait_quiet() {
    local until=$((SECONDS + QUIET_WAIT))
    while ((SECONDS < until)); do
        if ! compiling && [[ $(busy_pct) -lt 10 ]]; then return 0; fi
        sleep 4
    done
}

# ---------------------------------------------------------------- runs

args_for() {
    case $1 in
        idle) echo "idle --clients 19000 --rate 2000 --hold 5 --workers 2" ;;
        reg) echo "idle --clients 10000 --rate 20000 --hold 0 --per-source 2000 --max-inflight 10000" ;;
        dm-max) echo "dm --pairs 1000 --rate 10000 --duration 3 --max --max-steps 7" ;;
        fanout-max) echo "fanout --channels 100 --members 50 --rate 500 --duration 3 --max --max-steps 7" ;;
        dm-*) echo "dm --pairs 1000 --rate ${1#dm-} --duration 5" ;;
        fanout-*) echo "fanout --channels 100 --members 50 --rate ${1#fanout-} --duration 5" ;;
        presence-plain) echo "presence --accounts 500 --friends 100 --rate 20 --duration 10 --session 0.5 --sasl plain" ;;
        presence-scram) echo "presence --accounts 500 --friends 100 --rate 200 --duration 10 --session 0.5 --sasl scram" ;;
        offline) echo "offline --senders 1000 --recipients 500 --rate 50000 --duration 1 --drain 60 --login-rate 200 --sasl scram" ;;
        offline-*) echo "offline --senders 1000 --recipients 500 --rate ${1#offline-} --duration 5 --login-rate 200 --sasl scram" ;;
        *) return 1 ;;
    esac
}

ferry_only() { [[ $1 == presence* || $1 == offline* ]]; }

run_one() {
    local server=$1 name=$2 rep=$3 args
    args=$(args_for "$name") || { echo "unknown scenario $name" >&2; exit 2; }
    wait_quiet
    local busy load comp=no
    busy=$(busy_pct)
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    compiling && comp=yes
    start_server "$server" "$name" || {
        echo "{\"peer\":\"$server\",\"name\":\"$name\",\"rep\":$rep,\"error\":\"server did not start\"}" >>"$OUT/results.jsonl"
        stop_server
        return
    }
    echo "$(date -u +%FT%TZ) $server $name #$rep: cpu busy before start $busy%, load [$load], compiler running: $comp" |
        tee -a "$OUT/runs.txt"
    echo "  taskset -c 1 ferry bench $args --server 127.0.0.1:$PORT --server-pid $server_pid" >>"$OUT/runs.txt"
    local line rc=0
    # shellcheck disable=SC2086
    line=$(taskset -c 1 "$FERRY" bench $args --server "127.0.0.1:$PORT" --server-pid "$server_pid" \
        2>>"$OUT/bench-stderr.log" | tail -1) || rc=$?
    if compiling; then echo "  (a compiler was running when it ended)" >>"$OUT/runs.txt"; fi
    PEER=$server NAME=$name REP=$rep BUSY=$busy LOAD=$load COMP=$comp RC=$rc VERSION="$(version_of "$server")" \
        python3 -c '
import json, os, sys
line = sys.stdin.read().strip()
try:
    r = json.loads(line)
except ValueError:
    r = {"error": "bench exited %s: %s" % (os.environ["RC"], line[:200])}
r = {"peer": os.environ["PEER"], "name": os.environ["NAME"], "rep": int(os.environ["REP"]),
     "server_version": os.environ["VERSION"],
     "machine": {"busy_before_pct": int(os.environ["BUSY"]), "loadavg": os.environ["LOAD"],
                 "compiler_running": os.environ["COMP"] == "yes"}, **r}
print(json.dumps(r))' <<<"$line" >>"$OUT/results.jsonl"
    stop_server
}

echo "# $(date -u +%FT%TZ) bench-peers: servers [$SERVERS], scenarios [$SCENARIOS], $REPEATS repeats" >>"$OUT/runs.txt"
for rep in $(seq "$REPEATS"); do
    for name in $SCENARIOS; do
        for server in $SERVERS; do
            if ferry_only "$name" && [[ $server != ferry ]]; then continue; fi
            run_one "$server" "$name" "$rep"
        done
    done
done

# ---------------------------------------------------------------- table

python3 - "$OUT/results.jsonl" >"$OUT/table.md" <<'EOF'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
servers = [s for s in ["ngircd", "inspircd", "hybrid", "ferry"] if any(r["peer"] == s for r in rows)]

def get(r, path):
    for k in path.split("."):
        if not isinstance(r, dict) or k not in r:
            return None
        r = r[k]
    return r

# (label, scenario name, value path, unit, better: "low"/"high", scale)
FIGS = [
    ("RSS per idle registered client, 19,000 clients", "idle", "server.bytes_per_client", "bytes", "low", 1),
    ("registrations/s (10,000 offered at 20,000/s)", "reg", "setup.registrations_per_s", "/s", "high", 1),
    ("server CPU per registration", "reg", "server.cpu_us_per_registration", "µs", "low", 1),
    ("server CPU per DM, 1,000 pairs at 10,000 DMs/s", "dm-10000", "result.server.cpu_us_per_delivery", "µs", "low", 1),
    ("DM latency p99 at 10,000/s", "dm-10000", "result.latency_us.p99", "ms", "low", 0.001),
    ("server CPU per DM, 1,000 pairs at 20,000 DMs/s", "dm-20000", "result.server.cpu_us_per_delivery", "µs", "low", 1),
    ("DM latency p99 at 20,000/s", "dm-20000", "result.latency_us.p99", "ms", "low", 0.001),
    ("server CPU per fan-out delivery, 100 × 50 at 1,000 msgs/s", "fanout-1000", "result.server.cpu_us_per_delivery", "µs", "low", 1),
    ("fan-out latency p99 at 1,000 msgs/s", "fanout-1000", "result.latency_us.p99", "ms", "low", 0.001),
    ("max sustained DMs/s (p99 ≤ 100 ms, no loss)", "dm-max", "max.best_rate", "/s", "high", 1),
    ("max sustained channel msgs/s, 100 × 50 (× 49 deliveries)", "fanout-max", "max.best_rate", "/s", "high", 1),
    ("presence, PLAIN: logins/s", "presence-plain", "presence.logins.per_s", "/s", "high", 1),
    ("presence, PLAIN: 730 p99 (login → friend told)", "presence-plain", "presence.online.latency_us.p99", "ms", "low", 0.001),
    ("presence, PLAIN: server CPU per login", "presence-plain", "presence.server.cpu_us_per_login", "µs", "low", 1),
    ("presence, SCRAM: logins/s", "presence-scram", "presence.logins.per_s", "/s", "high", 1),
    ("presence, SCRAM: 730 p99", "presence-scram", "presence.online.latency_us.p99", "ms", "low", 0.001),
    ("presence, SCRAM: 731 p99", "presence-scram", "presence.offline.latency_us.p99", "ms", "low", 0.001),
    ("presence, SCRAM: notifications/s", "presence-scram", "presence.notifications_per_s", "/s", "high", 1),
    ("presence, SCRAM: server CPU per notification (all CPU / all 730+731)", "presence-scram", "presence.server.cpu_us_per_notification", "µs", "low", 1),
    ("offline, 50,000/s offered for 1 s: acknowledged commits/s", "offline", "offline.send.acked_per_s", "/s", "high", 1),
    ("offline, 50,000/s offered: server CPU per acknowledged message", "offline", "offline.send.server.cpu_us_per_message", "µs", "low", 1),
    ("offline, 50,000/s offered: login → last waiting message, p99 per recipient (100 each)", "offline", "offline.delivery.per_recipient_us.p99", "ms", "low", 0.001),
    ("offline, 50,000/s offered: delivered at login /s", "offline", "offline.delivery.delivered_per_s", "/s", "high", 1),
    ("offline, 50,000/s offered: acknowledged messages missing at login", "offline", "offline.delivery.missing", "", "low", 1),
    ("offline, 2,000/s for 5 s: ack latency p50", "offline-2000", "offline.send.ack_latency_us.p50", "ms", "low", 0.001),
    ("offline, 2,000/s: ack latency p99", "offline-2000", "offline.send.ack_latency_us.p99", "ms", "low", 0.001),
    ("offline, 2,000/s: server CPU per acknowledged message", "offline-2000", "offline.send.server.cpu_us_per_message", "µs", "low", 1),
    ("offline, 2,000/s: acknowledged messages missing at login", "offline-2000", "offline.delivery.missing", "", "low", 1),
]

def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "ms":
        return f"{v:,.1f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.1f}"

def cell(name, path, server, unit, scale):
    vals = [get(r, path) for r in rows if r["peer"] == server and r["name"] == name]
    vals = [v * scale for v in vals if isinstance(v, (int, float))]
    if not vals:
        return None, "–"
    med = statistics.median(vals)
    s = fmt(med, unit)
    if len(vals) > 1 and max(vals) != min(vals):
        s += f" ({fmt(min(vals), unit)}–{fmt(max(vals), unit)})"
    return med, s

out = []
out.append("| figure | unit | " + " | ".join(servers) + " | ferry ÷ best peer |")
out.append("| --- | --- | " + " | ".join("---:" for _ in servers) + " | ---: |")
for label, name, path, unit, better, scale in FIGS:
    meds, cells = {}, []
    for s in servers:
        m, c = cell(name, path, s, unit, scale)
        meds[s] = m
        cells.append(c)
    if all(m is None for m in meds.values()):
        continue
    peers = [meds[s] for s in servers if s != "ferry" and meds[s] is not None]
    ratio = "–"
    if peers and meds.get("ferry") is not None:
        best = min(peers) if better == "low" else max(peers)
        if best:
            ratio = f"{meds['ferry'] / best:.2f}"
    out.append(f"| {label} | {unit} | " + " | ".join(cells) + f" | {ratio} |")

# Pass/fail of the fixed-rate steps, and what stopped each --max.
out.append("")
out.append("| run | " + " | ".join(servers) + " |")
out.append("| --- | " + " | ".join("---" for _ in servers) + " |")
for name in ["idle", "reg", "dm-10000", "dm-20000", "fanout-1000", "dm-max", "fanout-max",
             "presence-plain", "presence-scram", "offline", "offline-2000"]:
    cells, any_ = [], False
    for s in servers:
        rs = [r for r in rows if r["peer"] == s and r["name"] == name]
        if not rs:
            cells.append("–")
            continue
        any_ = True
        bits = []
        for r in rs:
            if "error" in r:
                bits.append("error: " + r["error"][:60])
            elif name in ("idle", "reg"):
                reg, plan = get(r, "setup.registered"), get(r, "setup.planned")
                bits.append(f"{reg:,} of {plan:,} registered" + (
                    "" if reg == plan else ": " + ", ".join(f"{k} ×{v}" for k, v in (get(r, "setup.failures") or {}).items())[:80]))
            elif name.endswith("max"):
                bits.append((get(r, "max.stopped_by") or "?")[:70])
            else:
                ok = get(r, "result.pass")
                if ok is None:
                    ok = get(r, "presence.pass")
                if ok is None:
                    ok = get(r, "offline.pass")
                why = (get(r, "result.failed_because") or get(r, "presence.failed_because")
                       or get(r, "offline.failed_because") or [])
                bits.append("pass" if ok else "fail: " + "; ".join(why)[:70])
        cells.append("<br>".join(bits))
    if any_:
        out.append(f"| {name} | " + " | ".join(cells) + " |")
print("\n".join(out))
EOF
echo "table: $OUT/table.md"
cat "$OUT/table.md"
