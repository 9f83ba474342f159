#!/usr/bin/env bash
# The test command: installs test dependencies, then runs the whole
# workspace's tests.  Extra arguments go to `cargo test`, e.g.
#   scripts/test.sh -p ferry-proto
#   scripts/test.sh -- --nocapture
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

"$repo/scripts/install-test-deps.sh"
exec cargo test --workspace --locked "$@"
