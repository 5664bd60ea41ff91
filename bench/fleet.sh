#!/usr/bin/env bash
# Parallel clusters: wall time of `cluster-update plan` on the three-cluster fleet sandbox with
# --jobs 1 (one cluster after another within a stage) and --jobs 3 (the live stage's two clusters at
# once). Offline: real terraform, the kops double. Usage: bash bench/fleet.sh [ROUNDS]
set -euo pipefail
rounds=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/kopsform"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/examples" "$work/2-kops" "$work/tests/kops-double"
cp -r "$repo/examples/fleet" "$repo/examples/sandbox" "$work/examples/"
cp "$repo/2-kops/cluster-template.yml" "$work/2-kops/"
cp "$repo/tests/kops-double/kops" "$work/tests/kops-double/"
cd "$work/examples/fleet"
"$bin" --all --yes prerequisites-apply >/dev/null 2>&1
for jobs in 1 3; do
  best=""
  for _ in $(seq "$rounds"); do
    start=$(date +%s%N)
    "$bin" --all --yes --force --jobs "$jobs" cluster-update plan >/dev/null 2>&1
    t=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  printf 'jobs=%s  best of %s: %d ms\n' "$jobs" "$rounds" "$best"
done
