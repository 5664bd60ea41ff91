#!/usr/bin/env bash
# Instruction counts of the runner (valgrind's callgrind, all threads summed): deterministic where
# wall times on a shared machine are not, so a change's effect and the growth with the number of
# tasks or clusters show plainly. bench/run.sh runs it and bench/report.py puts the counts in
# docs/performance.md (the targets of growth and of the review's floor are judged from them).
#
#   bash bench/callgrind.sh [BIN [tasks|fleet|review]]   BIN defaults to target/release/kopsform;
#                                                        every part runs unless one is named
#
# Output: one line per scenario, its label, then the instruction count as the last word.
#
# Scenarios: `list` and `--dry-run step-N` of 100, 1,000 and 3,000 tasks (bench/fixtures.py tasks),
# `--jobs 2 step-N` of 1,000 and 3,000 tasks (echo steps, really run), and `--all --yes --force
# cluster-template` (one render per cluster) of 16 and 64 clusters (bench/fixtures.py fleet, with
# the outputs of the sandbox's prerequisites layer; needs terraform); `review` in Markdown,
# `--for github` and `--format json` of plans of 10,000 and 50,000 changes (bench/gen_plan.py) beside
# the floor of issue 19, one serde IgnoredAny pass over the same file (the example
# ignored_any_floor: `cargo build --release --example ignored_any_floor`; FLOOR=path overrides).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$repo/target/release/kopsform}
part=${2:-all}
floor=${FLOOR:-$repo/target/release/examples/ignored_any_floor}
command -v valgrind >/dev/null || { echo "bench/callgrind.sh: valgrind is missing" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git_init() {
  git -C "$1" init -q -b main
  git -C "$1" add -A
  git -C "$1" -c user.name=bench -c user.email=bench@example.invalid commit -q -m fixture
}

measure() { # LABEL COMMAND...: the instructions of one run of COMMAND (exit status 0, or 2 for a
  # review that found changes)
  local label=$1 status=0
  shift
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" >"$work/out" 2>"$work/err" || status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then cat "$work/err" >&2; echo "failed: $label" >&2; exit 1; fi
  printf '%-48s %15s\n' "$label" \
    "$(callgrind_annotate "$work/cg.out" | grep -m1 'PROGRAM TOTALS' | awk '{print $1}')"
}

count() { # LABEL DIR ARGS...: the instructions of one run of kopsform -C DIR ARGS
  local label=$1 dir=$2
  shift 2
  measure "$label" "$bin" -C "$dir" "$@"
}

if [ "$part" = all ] || [ "$part" = tasks ]; then
for n in 100 1000 3000; do
  python3 "$repo/bench/fixtures.py" tasks "$n" "$work/t$n"
  git_init "$work/t$n"
done
count "list (100 tasks)" "$work/t100" list
count "--dry-run step-99 (100 tasks)" "$work/t100" --dry-run step-99
count "--dry-run step-999 (1,000 tasks)" "$work/t1000" --dry-run step-999
count "--dry-run step-2999 (3,000 tasks)" "$work/t3000" --dry-run step-2999
count "--jobs 2 step-999 (1,000 tasks)" "$work/t1000" --jobs 2 step-999
count "--jobs 2 step-2999 (3,000 tasks)" "$work/t3000" --jobs 2 step-2999
fi

if [ "$part" = all ] || [ "$part" = fleet ] && command -v terraform >/dev/null; then
  sandbox="$work/sandbox"
  mkdir -p "$sandbox"
  cp -r "$repo/examples/sandbox/1-prerequisites" "$sandbox/"
  rm -rf "$sandbox/1-prerequisites/.terraform" "$sandbox"/1-prerequisites/terraform.tfstate*
  terraform -chdir="$sandbox/1-prerequisites" init -input=false >/dev/null
  terraform -chdir="$sandbox/1-prerequisites" apply -auto-approve -input=false >/dev/null
  terraform -chdir="$sandbox/1-prerequisites" output -json >"$work/outputs.json"
  for n in 16 64; do
    # The template inside the project: render paths may not leave it with `..`.
    dir="$work/f$n"
    mkdir -p "$dir/2-kops" "$dir/.kops-state"
    cp "$repo/2-kops/cluster-template.yml" "$dir/2-kops/"
    python3 "$repo/bench/fixtures.py" fleet "$n" "$dir" "$repo/examples/fleet/tasks.toml"
    sed -i 's|\.\./\.\./2-kops/|2-kops/|g' "$dir/tasks.toml"
    python3 "$repo/bench/fixtures.py" standins "$dir/bin" "$work/f$n" "$work/outputs.json" 0
    git_init "$dir"
    count "--all cluster-template ($n clusters)" "$dir" --all --yes --force cluster-template
    count "--all --jobs 2 cluster-template ($n clusters)" "$dir" --all --yes --force --jobs 2 cluster-template
  done
fi

if [ "$part" = all ] || [ "$part" = review ]; then
  [ -x "$floor" ] || { echo "bench/callgrind.sh: $floor is missing: cargo build --release --example ignored_any_floor" >&2; exit 1; }
  for n in 10000 50000; do
    plan="$work/plan-$n.json"
    python3 "$repo/bench/gen_plan.py" "$n" "$plan"
    measure "review floor, IgnoredAny ($n changes)" "$floor" "$plan"
    measure "review Markdown ($n changes)" "$bin" review "$plan"
    measure "review --for github ($n changes)" "$bin" review --for github "$plan"
    measure "review --format json ($n changes)" "$bin" review --format json "$plan"
  done
fi
