#!/usr/bin/env bash
# Run the irctest conformance suite against ferry.
#
#   scripts/irctest.sh [pytest args...]      e.g.  scripts/irctest.sh -k 'join or part'
#
# 1. builds ferry (`cargo build --locked --bin ferry`, debug profile: the same
#    artifact `cargo test` already built, so CI compiles nothing twice);
# 2. runs irctest's run.sh with irctest/ferry.env, extra args going to pytest;
# 3. reruns the tests that failed unexpectedly, once;
# 4. compares with irctest/known-failures.txt and fails (exit 1) when
#    - a test failed twice and is not listed there, or
#    - a listed test passed (remove it from the list: the list only shrinks),
#    - or pytest selected nothing / stopped abnormally.
#
# Environment (all optional):
#   IRCTEST_TOOLS        folder holding irctest's run.sh
#                        (default: ../shared/irctest next to the repo)
#   FERRY_BIN            server binary to test; when set, nothing is built
#   FERRY_IRCTEST_JUNIT  also keep the first run's JUnit XML report there
#   FERRY_IRCTEST_MAX_RERUN  rerun at most this many unexpected failures
#                        (default 100; beyond that, fail without rerunning)
#   IRCTEST_JOBS, IRCTEST_MARKERS, IRCTEST_TIMEOUT, ...  passed on to run.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "irctest.sh: $*" >&2; }

tools="${IRCTEST_TOOLS:-$repo/../shared/irctest}"
if [ ! -x "$tools/run.sh" ]; then
    log "no irctest runner at $tools/run.sh (set IRCTEST_TOOLS)"
    exit 1
fi
tools="$(cd "$tools" && pwd)"
command -v python3 >/dev/null 2>&1 || { log "python3 is required"; exit 1; }

# --------------------------------------------------------------- build --
if [ -z "${FERRY_BIN:-}" ]; then
    log "building ferry (cargo build --locked --bin ferry)"
    (cd "$repo" && cargo build --locked --bin ferry)
    target_dir="${CARGO_TARGET_DIR:-$repo/target}"
    case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
    FERRY_BIN="$target_dir/debug/ferry"
fi
case "$FERRY_BIN" in /*) ;; *) FERRY_BIN="$PWD/$FERRY_BIN" ;; esac
if [ ! -x "$FERRY_BIN" ]; then
    log "FERRY_BIN=$FERRY_BIN is not an executable file"
    exit 1
fi
export FERRY_BIN
log "server: $FERRY_BIN"

envfile="$repo/irctest/ferry.env"
known="$repo/irctest/known-failures.txt"
work="$(mktemp -d "${TMPDIR:-/tmp}/ferry-irctest.XXXXXX")"
trap 'rm -rf "$work" /tmp/ferry-irctest-data' EXIT

# run_irctest JUNIT_FILE [pytest args...]: sets $rc to pytest's status
run_irctest() {
    local junit="$1"; shift
    set +e
    # xunit1 adds a `file` attribute to each <testcase>: exact node ids.
    IRCTEST_JUNIT="$junit" "$tools/run.sh" "$envfile" -o junit_family=xunit1 "$@"
    rc=$?
    set -e
}

# check_rc RC JUNIT_FILE: abnormal pytest ends fail the script right away
check_rc() {
    case "$1" in
        0|1) ;;
        5) log "pytest selected no tests (exit 5)"; exit 1 ;;
        *) log "pytest stopped abnormally (exit $1)"; exit 1 ;;
    esac
    if [ ! -s "$2" ]; then
        log "pytest wrote no JUnit report ($2)"
        exit 1
    fi
}

# ------------------------------------------------------------ first run --
run_irctest "$work/first.xml" "$@"
first_rc=$rc
if [ -n "${FERRY_IRCTEST_JUNIT:-}" ] && [ -f "$work/first.xml" ]; then
    cp "$work/first.xml" "$FERRY_IRCTEST_JUNIT"
fi
check_rc "$first_rc" "$work/first.xml"

# analyse REPORT...: prints a JSON summary of the reports given
analyse() {
    python3 - "$known" "$@" <<'PY'
import json
import sys
import xml.etree.ElementTree as ET

known_path, reports = sys.argv[1], sys.argv[2:]


def load_known(path):
    ids = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            # comments: whole lines, or " #" to the end of the line
            if line.lstrip().startswith("#"):
                continue
            cut = line.find(" #")
            if cut >= 0:
                line = line[:cut]
            line = line.strip()
            if line:
                ids.append(line)
    return ids


def node_id(tc):
    """JUnit <testcase> -> pytest node id, e.g. classname
    irctest.server_tests.cap.CapTestCase + name testFoo ->
    irctest/server_tests/cap.py::CapTestCase::testFoo"""
    classname = tc.get("classname", "")
    name = tc.get("name", "")
    path = tc.get("file")
    if path and path.endswith(".py"):
        module = path[:-3].replace("/", ".")
        if classname == module:  # module-level item (e.g. collection error)
            cls = ""
        elif classname.startswith(module + "."):
            cls = classname[len(module) + 1 :].replace(".", "::")
        else:
            path = None
    if not path:
        # irctest test classes are top-level: the last component is the class
        module, _, cls = classname.rpartition(".")
        path = module.replace(".", "/") + ".py"
    parts = [path] + ([cls] if cls else []) + ([name] if name else [])
    return "::".join(parts)


# one outcome per test: failed > passed; errors in teardown after a pass
# count as failures too
outcome = {}
order = []


def record(nid, what):
    if nid not in outcome:
        order.append(nid)
        outcome[nid] = what
    elif what == "failed" or outcome[nid] == "failed":
        outcome[nid] = "failed"


for report in reports:
    root = ET.parse(report).getroot()
    for tc in root.iter("testcase"):
        nid = node_id(tc)
        if tc.find("failure") is not None or tc.find("error") is not None:
            record(nid, "failed")
            continue
        skipped = tc.find("skipped")
        if skipped is None:
            record(nid, "passed")
        elif skipped.get("type") == "pytest.xfail":
            record(nid, "xfailed")
        elif "passes unexpectedly" in (skipped.get("message") or ""):
            record(nid, "failed")  # strict xpass
        else:
            record(nid, "skipped")

known = load_known(known_path)
known_set = set(known)
counts = {k: 0 for k in ("passed", "failed", "skipped", "xfailed")}
for nid in order:
    counts[outcome[nid]] += 1
failed = [n for n in order if outcome[n] == "failed"]
json.dump(
    {
        "counts": counts,
        "failed": failed,
        "unexpected": [n for n in failed if n not in known_set],
        "known_failed": [n for n in failed if n in known_set],
        "now_passing": [n for n in known if outcome.get(n) == "passed"],
        "known_skipped": [n for n in known if outcome.get(n) in ("skipped", "xfailed")],
        "outcome": outcome,
    },
    sys.stdout,
)
PY
}

# jq-free JSON field access: field JSON_FILE KEY -> one item per line / number
field() {
    python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
if isinstance(v, list):
    for item in v:
        print(item)
elif isinstance(v, dict):
    print(", ".join(f"{n} {k}" for k, n in v.items()))
else:
    print(v)
PY
}

analyse "$work/first.xml" > "$work/first.json"
mapfile -t unexpected < <(field "$work/first.json" unexpected)
if [ "$first_rc" = 1 ] && [ "$(field "$work/first.json" failed | wc -l)" = 0 ]; then
    log "pytest exited 1 but its report shows no failed test"
    exit 1
fi

status=0
still_failing=()
flaky=()
# ----------------------------------------------------------------- rerun --
if [ ${#unexpected[@]} -gt 0 ]; then
    max="${FERRY_IRCTEST_MAX_RERUN:-100}"
    if [ ${#unexpected[@]} -gt "$max" ]; then
        log "${#unexpected[@]} unexpected failures (> $max): not rerunning them"
        still_failing=("${unexpected[@]}")
    else
        log "rerunning ${#unexpected[@]} unexpectedly failed test(s) once"
        run_irctest "$work/rerun.xml" "${unexpected[@]}"
        rerun_passed=()
        if [ "$rc" = 5 ]; then
            log "rerun selected none of them (exit 5): counting them as failed"
        else
            check_rc "$rc" "$work/rerun.xml"
            analyse "$work/rerun.xml" > "$work/rerun.json"
            # a test still fails if it failed again or did not run at all
            mapfile -t rerun_passed < <(python3 - "$work/rerun.json" <<'PY'
import json, sys
for nid, what in json.load(open(sys.argv[1]))["outcome"].items():
    if what != "failed":
        print(nid)
PY
)
        fi
        for t in "${unexpected[@]}"; do
            ok=0
            for p in "${rerun_passed[@]}"; do [ "$t" = "$p" ] && { ok=1; break; }; done
            if [ $ok = 1 ]; then flaky+=("$t"); else still_failing+=("$t"); fi
        done
    fi
fi

# --------------------------------------------------------------- verdict --
echo
counts="$(field "$work/first.json" counts)"
mapfile -t known_failed < <(field "$work/first.json" known_failed)
mapfile -t now_passing < <(field "$work/first.json" now_passing)
mapfile -t known_skipped < <(field "$work/first.json" known_skipped)

if [ ${#flaky[@]} -gt 0 ]; then
    echo "irctest: WARNING: failed, then passed on rerun (flaky):"
    printf '  %s\n' "${flaky[@]}"
fi
if [ ${#known_skipped[@]} -gt 0 ]; then
    echo "irctest: WARNING: listed in irctest/known-failures.txt but skipped:"
    printf '  %s\n' "${known_skipped[@]}"
fi
if [ ${#still_failing[@]} -gt 0 ]; then
    echo "irctest: ERROR: failed twice and not in irctest/known-failures.txt:"
    printf '  %s\n' "${still_failing[@]}"
    status=1
fi
if [ ${#now_passing[@]} -gt 0 ]; then
    echo "irctest: ERROR: now passing, remove from irctest/known-failures.txt:"
    printf '  %s\n' "${now_passing[@]}"
    status=1
fi
# first run's counts; flaky tests are counted as failed there
echo "irctest summary: $counts (known failures: ${#known_failed[@]}," \
     "unexpected: ${#still_failing[@]}, flaky: ${#flaky[@]}, now passing: ${#now_passing[@]})"
if [ $status = 0 ]; then
    echo "irctest: OK"
else
    echo "irctest: FAILED"
fi
exit $status
