#!/usr/bin/env bash
# The benchmark suite: times kopsform with hyperfine against just, make + bash + jq and jq, counts
# the processes each starts, and writes docs/performance.md (bench/report.py).
#
#   bash bench/run.sh           stable numbers (warm-ups, 20+ runs per command)
#   bash bench/run.sh --quick   a few runs per command, to try it out
#
# Scenarios (docs/performance.md explains each):
#   1. start-up: --version, list and --dry-run against just and make on equivalent files
#   2. orchestration: cluster-update + plan with stand-in tools against a Makefile pipeline
#   3. review throughput: kopsform review against jq on plans of 1,000 to 50,000 changes
#   4. nothing to do: a second cluster-update with nothing changed (real terraform, kops double)
#   5. many clusters: 16 clusters whose steps take a fixed time, --jobs 1, 4 and 8
# and instruction counts (bench/callgrind.sh: growth with tasks and clusters, the review against its
# IgnoredAny floor), deterministic where the wall times are not. CALLGRIND=after (the default: once
# the timings are done), alongside (in the background during them: a shorter run, noisier times)
# or skip; CALLGRIND=file:PATH takes the output of a separate `bench/callgrind.sh` of the same binary
# (waiting for PATH to appear at the end if that run is still going: write it with `> tmp && mv`).
#
# Everything happens in a temporary folder removed on exit; the only file written outside it is
# docs/performance.md. Needs terraform (scenarios 2 and 4); installs hyperfine, jq, make, strace,
# GNU time, valgrind (apt), just and PyYAML (pip) when missing.
set -euo pipefail

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: bash bench/run.sh [--quick]" >&2; exit 64 ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
bench="$repo/bench"
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: error: %s\n' "$*" >&2; exit 1; }

# --- Tools ----------------------------------------------------------------------------------------

apt_install() {
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  say "installing $* (apt)"
  "${sudo[@]}" apt-get install -y "$@" || { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y "$@"; }
}

need() { # COMMAND APT-PACKAGE
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "$1 is missing and could not be installed (apt package $2)"
}

need hyperfine hyperfine
need jq jq
need make make
need strace strace
need git git
callgrind=${CALLGRIND:-after}
case "$callgrind" in
  after | alongside) need valgrind valgrind ;;
  skip) ;;
  file:*) ;;
  *) die "CALLGRIND must be after, alongside, skip or file:PATH (not $callgrind)" ;;
esac
[ -x /usr/bin/time ] || apt_install time
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt package time)"
command -v python3 >/dev/null 2>&1 || die "python3 is missing"
command -v terraform >/dev/null 2>&1 ||
  die "terraform is missing: scenarios 2 and 4 need the real Terraform (1.10 or later) for the sandbox's prerequisites layer"
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install pyyaml # the kops double's YAML parser
python3 -c 'import yaml' 2>/dev/null || die "PyYAML is missing (pip install pyyaml): the kops double needs it"

# just: pip's rust-just puts the real binary in the interpreter's scripts folder; prefer that over
# a version manager's shim of the same name, which would add its own start-up to every call.
scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
if [ ! -x "$scripts/just" ] && ! command -v just >/dev/null 2>&1; then
  say "installing just (pip install rust-just)"
  python3 -m pip install rust-just
fi
if [ -x "$scripts/just" ]; then just_bin="$scripts/just"; else just_bin=$(command -v just) || die "just is missing (pip install rust-just)"; fi

if [ "$quick" -eq 1 ]; then
  fast=(--warmup 1 --runs 3)   # commands of a few milliseconds to a second
  slow=(--warmup 0 --runs 1)   # the 16-cluster runs (seconds each)
  rounds=1 round=(--warmup 1 --runs 3) round_fast=(--warmup 1 --runs 3)
  rss_runs=1
else
  fast=(--warmup 3 --min-runs 20)
  slow=(--warmup 1 --runs 5)
  # round_fast: the rounds of commands of milliseconds (scenario 2 with both stand-ins, scenario
  # 4), 120 runs of each in all: their targets are judged by a 95% interval of the mean, which more
  # runs narrow (report.py).
  rounds=5 round=(--warmup 1 --runs 6) round_fast=(--warmup 1 --runs 24)
  rss_runs=3
fi
step_delay=0.1 # seconds each step of scenario 5 takes (kops replace, kops update, terraform init, plan)

if awk -v cores="$(nproc)" '{ exit !($1 > cores / 4) }' /proc/loadavg; then
  say "warning: the machine is busy (load average $load_start on $(nproc) cores): the numbers will be noisier"
fi

say "building kopsform (cargo build --release)"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --example ignored_any_floor
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" | jq -r .target_directory)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "$work" in *[[:space:]]*) die "the temporary folder $work has white space in its path" ;; esac
results="$work/results"
mkdir -p "$results" "$work/bin" "$work/logs"

# Everything runs from $work/bin: a copy of the binary under test, and python3 as a link to the
# interpreter itself (the kops double is a Python script), so that a version manager's shim does
# not start its own processes around every kops call.
cp "$target_dir/release/kopsform" "$work/bin/kopsform"
kopsform="$work/bin/kopsform"
cp "$target_dir/release/examples/ignored_any_floor" "$work/bin/ignored_any_floor"
if python3 -c 'import sys; sys.exit(sys.prefix != sys.base_prefix)'; then
  ln -s "$(python3 -c 'import sys; print(sys.executable)')" "$work/bin/python3"
fi
export PATH="$work/bin:$PATH"
export CHECKPOINT_DISABLE=1 # no Terraform update check in any scenario
# Where the kops double would keep its cloud and a kubeconfig if a command did not say: in $work.
export XDG_STATE_HOME="$work/state" KUBECONFIG="$work/kubeconfig"

hf() { # NAME HYPERFINE-ARGS...: one hyperfine run, its numbers in $results/NAME.json
  local name=$1
  shift
  hyperfine --style basic --export-json "$results/$name.json" "$@"
}

hf_rounds() { # NAME HYPERFINE-ARGS...: for commands compared by their difference (own time), in
  # $rounds rounds taken in turn, so that a change in the machine's load hits each of them alike;
  # $results/NAME.rN.json, merged by report.py
  local name=$1 r
  shift
  for r in $(seq "$rounds"); do
    hf "$name.r$r" "${round[@]}" "$@"
  done
}

trace() { # OUT COMMAND...: every execve, chdir and fork of COMMAND's process tree
  local out=$1
  shift
  strace -f -qq -v -s 4096 -e trace=execve,chdir,clone,clone3,fork,vfork -o "$out" "$@" >/dev/null 2>&1
}

procs() { # TRACE NAME: the process counts of a trace in $results/NAME.procs.json
  python3 "$bench/trace.py" count "$1" >"$results/$2.procs.json"
}

copy_sandbox() { # DEST: examples/sandbox as bench/fleet.sh copies it, the relative paths intact
  mkdir -p "$1/examples" "$1/2-kops" "$1/tests/kops-double"
  if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Only the committed files: no state or generated files of an earlier sandbox run.
    (cd "$repo" && git ls-files -z examples/sandbox | xargs -0 cp --parents -t "$1")
  else
    cp -r "$repo/examples/sandbox" "$1/examples/"
  fi
  cp "$repo/2-kops/cluster-template.yml" "$1/2-kops/"
  cp "$repo/tests/kops-double/kops" "$1/tests/kops-double/"
}

git_init() { # DIR: a repository with one commit, as a project is (plan seals and the audit ask git)
  git -C "$1" init -q -b main
  git -C "$1" add -A
  git -C "$1" -c user.name=bench -c user.email=bench@example.invalid commit -q -m fixture
}

quietly() { # COMMAND...: runs it with its output kept aside, shown only when it fails
  "$@" >"$work/quietly.out" 2>&1 || { cat "$work/quietly.out" >&2; die "failed: $*"; }
}

set_tool() { # TASKS_TOML TOOL VALUE: points [tools] TOOL at VALUE
  sed -i "s|^$2 = .*|$2 = \"$3\"|" "$1"
  grep -q "^$2 = \"$3\"" "$1" || die "could not set [tools] $2 in $1"
}

count_lines() { # LOG REGEX: how many lines of a stand-in's log match the extended REGEX
  if [ -f "$1" ]; then grep -cE "$2" "$1" || true; else echo 0; fi
}

expect_up_to_date() { # DIR: a cluster-update there finds both of its tasks up to date
  kopsform -C "$1" cluster-update >"$work/up-to-date.out" 2>&1
  [ "$(grep -cE '^\[cluster-(template|update)\] up to date' "$work/up-to-date.out")" -eq 2 ] ||
    die "cluster-update in $1 was not up to date: $(cat "$work/up-to-date.out")"
}

outputs_re='^(-chdir=[^ ]+ )?output( |$)' # a `terraform output` in a stand-in's log

instruction_counts() { # bench/callgrind.sh on the binary under test, into $results/callgrind.txt
  FLOOR="$work/bin/ignored_any_floor" bash "$bench/callgrind.sh" "$kopsform" >"$results/callgrind.txt" 2>"$work/callgrind.err" ||
    { cat "$work/callgrind.err" >&2; die "bench/callgrind.sh failed"; }
}

# --- Fixtures -------------------------------------------------------------------------------------

say "fixtures: 100 tasks, sandbox copies, stand-ins, plans"
python3 "$bench/fixtures.py" tasks100 "$work/s1"
git_init "$work/s1"

# The sandbox with real Terraform once, for the outputs its prerequisites layer gives.
copy_sandbox "$work/s2"
s2="$work/s2/examples/sandbox"
(cd "$s2" && quietly kopsform --yes prerequisites-apply)
terraform -chdir="$s2/1-prerequisites" output -json >"$work/outputs.json"
jq -e '.cluster_name.value and .kops_state_store.value' "$work/outputs.json" >/dev/null ||
  die "the sandbox's prerequisites gave no outputs"

# Scenario 2a: kops double + terraform stand-in. 2b: both tools stand-ins (the kops double is a
# Python program of ~100 ms per call; 2b shows kopsform's own cost without it).
mkdir -p "$work/logs/s2"
python3 "$bench/fixtures.py" standins "$s2/bin" "$work/logs/s2" "$work/outputs.json" 0
set_tool "$s2/tasks.toml" terraform bin/terraform
cp "$bench/pipeline/Makefile" "$bench/pipeline/cluster-template.jq" "$s2/"
git_init "$work/s2"

copy_sandbox "$work/s2b"
s2b="$work/s2b/examples/sandbox"
jq --arg store "$s2b/.kops-state" '.kops_state_store.value = $store' "$work/outputs.json" >"$work/outputs-s2b.json"
mkdir -p "$s2b/.kops-state" "$work/logs/s2b"
python3 "$bench/fixtures.py" standins "$s2b/bin" "$work/logs/s2b" "$work/outputs-s2b.json" 0
set_tool "$s2b/tasks.toml" terraform bin/terraform
set_tool "$s2b/tasks.toml" kops bin/kops
cp "$bench/pipeline/Makefile" "$bench/pipeline/cluster-template.jq" "$s2b/"
git_init "$work/s2b"

# Scenario 4: real Terraform and the kops double, as bench/fleet.sh runs them.
copy_sandbox "$work/s4"
s4="$work/s4/examples/sandbox"
git_init "$work/s4"

# Scenario 5: 16 clusters in one stage, stand-ins whose steps sleep $step_delay s.
s5="$work/s5/examples/fleet16"
mkdir -p "$work/s5/2-kops" "$s5/.kops-state" "$work/logs/s5"
cp "$repo/2-kops/cluster-template.yml" "$work/s5/2-kops/"
python3 "$bench/fixtures.py" fleet 16 "$s5" "$repo/examples/fleet/tasks.toml"
jq --arg store "$s5/.kops-state" '.kops_state_store.value = $store' "$work/outputs.json" >"$work/outputs-s5.json"
python3 "$bench/fixtures.py" standins "$s5/bin" "$work/logs/s5" "$work/outputs-s5.json" "$step_delay"
git_init "$work/s5"

mkdir -p "$work/plans"
for n in 1000 10000 50000; do
  python3 "$bench/gen_plan.py" "$n" "$work/plans/plan-$n.json"
done

callgrind_pid=""
if [ "$callgrind" = alongside ]; then
  say "instruction counts (bench/callgrind.sh), in the background"
  (trap - EXIT; instruction_counts) &
  callgrind_pid=$!
fi

# --- 1. Start-up ----------------------------------------------------------------------------------

say "1. start-up"
just_file="$work/s1/justfile"
hf s1-startup -N "${fast[@]}" \
  -n "kopsform --version" "$kopsform --version" \
  -n "just --version" "$just_bin --version" \
  -n "kopsform list (100 tasks)" "$kopsform -C $work/s1 list" \
  -n "just --list (100 recipes)" "$just_bin --justfile $just_file --list" \
  -n "kopsform --dry-run step-99 (100 tasks)" "$kopsform -C $work/s1 --dry-run step-99" \
  -n "just --dry-run step-99 (100 recipes)" "$just_bin --justfile $just_file --dry-run step-99" \
  -n "make -n step-99 (100 targets)" "make -n -f $work/s1/Makefile step-99"
trace "$work/s1-dry-run.trace" "$kopsform" -C "$work/s1" --dry-run step-99
procs "$work/s1-dry-run.trace" s1-dry-run

# The default workflow: kopsform reads the outputs (terraform stand-in) and checks the rendered
# manifest; make -n prints the recipes and runs nothing.
(
  cd "$s2"
  hf s1-workflow -N "${fast[@]}" \
    -n "kopsform --dry-run prerequisites-apply cluster-update plan" \
    "$kopsform -C $s2 --dry-run prerequisites-apply cluster-update plan" \
    -n "make -n cluster-update plan (Makefile pipeline)" "make -C $s2 -n cluster-update plan"
  trace "$work/s1-workflow.trace" "$kopsform" -C "$s2" --dry-run prerequisites-apply cluster-update plan
  procs "$work/s1-workflow.trace" s1-workflow
)

# --- 2. Orchestration -----------------------------------------------------------------------------

orchestration() { # NAME DIR KOPS [fast]: scenario 2 in the sandbox copy DIR with kops at KOPS
  local name=$1 dir=$2 kops=$3 logs="$work/logs/$1"
  # Its rounds (hf_rounds reads $round): more runs when the commands take milliseconds.
  local -a round=("${round[@]}")
  [ "${4:-}" = fast ] && round=("${round_fast[@]}")
  local make_cmd=(make -C "$dir" -s "TERRAFORM=$dir/bin/terraform" "KOPS=$kops" cluster-update plan)
  cd "$dir"
  # Settle the folder, and check that the pipeline's manifest is the one kopsform renders.
  quietly kopsform -C "$dir" --force cluster-update plan
  cp 2-kops/cluster.yml "$work/cluster-kopsform.yml"
  quietly "${make_cmd[@]}"
  cmp -s 2-kops/cluster.yml "$work/cluster-kopsform.yml" ||
    die "$name: the Makefile pipeline renders another cluster.yml than kopsform"

  # One run of each, counted: terraform output calls (stand-in's log) and processes (strace).
  rm -f "$logs"/*.log
  kopsform -C "$dir" --force cluster-update plan >/dev/null 2>&1
  local k_outputs
  k_outputs=$(count_lines "$logs/terraform.log" "$outputs_re")
  # None when it reads a local-backend state file itself, one otherwise.
  [ "$k_outputs" -le 1 ] ||
    die "$name: kopsform started $k_outputs \`terraform output\` for one run of one cluster (at most 1)"
  rm -f "$logs"/*.log
  "${make_cmd[@]}" >/dev/null 2>&1
  local m_outputs
  m_outputs=$(count_lines "$logs/terraform.log" "$outputs_re")

  trace "$work/$name-kopsform.trace" "$kopsform" -C "$dir" --force cluster-update plan
  procs "$work/$name-kopsform.trace" "$name-kopsform"
  python3 "$bench/trace.py" replay "$work/$name-kopsform.trace" "$work/$name-replay.sh"
  trace "$work/$name-replay.trace" sh "$work/$name-replay.sh"
  procs "$work/$name-replay.trace" "$name-replay"
  trace "$work/$name-make.trace" "${make_cmd[@]}"
  procs "$work/$name-make.trace" "$name-make"

  local steps
  steps=$(kopsform -C "$dir" --json list |
    jq '[.[] | select(.name == ("cluster-template", "cluster-update", "init", "plan")) | .steps] | add')
  jq -n --argjson k "$k_outputs" --argjson m "$m_outputs" --argjson steps "$steps" \
    '{kopsform_terraform_outputs: $k, make_terraform_outputs: $m, steps: $steps}' >"$results/$name.facts.json"

  hf_rounds "$name" -N \
    -n "kopsform --force cluster-update plan" "$kopsform -C $dir --force cluster-update plan" \
    -n "sh: the same child commands" "sh $work/$name-replay.sh" \
    -n "make cluster-update plan (Makefile + bash + jq)" "${make_cmd[*]}"
  cd "$work"
}

say "2. orchestration (kops double, terraform stand-in)"
orchestration s2 "$s2" "$s2/../../tests/kops-double/kops"
say "2b. orchestration (both tools stand-ins)"
orchestration s2b "$s2b" "$s2b/bin/kops" fast

# --- 3. Review throughput -------------------------------------------------------------------------

say "3. review throughput"
counts_filter='[.resource_changes[].change.actions | join(",")] | group_by(.) | map({(.[0]): length}) | add'
echo '{}' >"$results/s3-rss.json"
cd "$work/plans"
for n in 1000 10000 50000; do
  plan="$work/plans/plan-$n.json"
  # Both must report the same headline counts.
  kopsform review "$plan" >"$work/review.md" || [ $? -eq 2 ] || die "kopsform review failed on $n changes"
  headline=$(grep -m1 -oE '[0-9]+ to add, [0-9]+ to change, [0-9]+ to destroy' "$work/review.md" || true)
  expected=$(jq -r "$counts_filter"' | "\(.create // 0) to add, \(.update // 0) to change, \(.delete // 0) to destroy"' "$plan")
  [ "$headline" = "$expected" ] || die "review of $n changes: kopsform says '$headline', jq '$expected'"

  hf "s3-$n" -N -i "${fast[@]}" \
    -n "kopsform review ($n changes)" "$kopsform review $plan" \
    -n "kopsform review --for github ($n changes)" "$kopsform review --for github $plan" \
    -n "kopsform review --format json ($n changes)" "$kopsform review --format json $plan" \
    -n "jq headline counts ($n changes)" "jq '$counts_filter' $plan"

  # Peak resident memory (KB), the largest of $rss_runs runs each.
  : >"$work/rss-kopsform"
  : >"$work/rss-github"
  : >"$work/rss-json"
  : >"$work/rss-jq"
  for _ in $(seq "$rss_runs"); do
    /usr/bin/time -f %M -a -o "$work/rss-kopsform" "$kopsform" review "$plan" >/dev/null || true
    /usr/bin/time -f %M -a -o "$work/rss-github" "$kopsform" review --for github "$plan" >/dev/null || true
    /usr/bin/time -f %M -a -o "$work/rss-json" "$kopsform" review --format json "$plan" >/dev/null || true
    /usr/bin/time -f %M -a -o "$work/rss-jq" jq "$counts_filter" "$plan" >/dev/null
  done
  peak() { grep -E '^[0-9]+$' "$1" | sort -n | tail -n1; }
  jq --arg n "$n" --argjson k "$(peak "$work/rss-kopsform")" --argjson g "$(peak "$work/rss-github")" \
    --argjson js "$(peak "$work/rss-json")" --argjson j "$(peak "$work/rss-jq")" --argjson size "$(stat -c %s "$plan")" \
    '.[$n] = {kopsform_kb: $k, github_kb: $g, json_kb: $js, jq_kb: $j, file_bytes: $size}' "$results/s3-rss.json" >"$work/rss.json"
  mv "$work/rss.json" "$results/s3-rss.json"
done
cd "$work"

# --- 4. Nothing to do -----------------------------------------------------------------------------

say "4. nothing to do (real terraform, kops double)"
(cd "$s4" && quietly kopsform --yes prerequisites-apply cluster-update)
expect_up_to_date "$s4"
trace "$work/s4.trace" "$kopsform" -C "$s4" cluster-update
procs "$work/s4.trace" s4
python3 "$bench/trace.py" replay "$work/s4.trace" "$work/s4-replay.sh"
# The same with the terraform stand-in (the sandbox copy of scenario 2), to show what is Terraform's.
quietly kopsform -C "$s2" cluster-update
expect_up_to_date "$s2"
trace "$work/s4-standin.trace" "$kopsform" -C "$s2" cluster-update
procs "$work/s4-standin.trace" s4-standin
python3 "$bench/trace.py" replay "$work/s4-standin.trace" "$work/s4-standin-replay.sh"
s4_commands=(
  -n "kopsform cluster-update, up to date (real terraform)" "$kopsform -C $s4 cluster-update"
  -n "sh: the same child commands (real terraform)" "sh $work/s4-replay.sh"
  -n "kopsform cluster-update, up to date (terraform stand-in)" "$kopsform -C $s2 cluster-update"
)
# The stand-in run's own children, when it starts any, to subtract them from its time.
if [ "$(jq '.children | length' "$results/s4-standin.procs.json")" -gt 0 ]; then
  s4_commands+=(-n "sh: the same child commands (terraform stand-in)" "sh $work/s4-standin-replay.sh")
fi
s4_rounds() { # the no-op's commands take milliseconds: the rounds of round_fast
  local -a round=("${round_fast[@]}")
  hf_rounds s4 -N "${s4_commands[@]}"
}
s4_rounds

# --- 5. Many clusters -----------------------------------------------------------------------------

say "5. 16 clusters, steps of ${step_delay}s, --jobs 1/4/8"
quietly kopsform -C "$s5" --all --yes --force --jobs 8 cluster-update plan
rm -f "$work/logs/s5"/*.log
quietly kopsform -C "$s5" --all --yes --force --jobs 8 cluster-update plan
s5_outputs=$(count_lines "$work/logs/s5/terraform.log" "$outputs_re")
[ "$s5_outputs" -le 16 ] || die "16 clusters started $s5_outputs \`terraform output\` (at most one per cluster)"
timed_steps=$(( $(count_lines "$work/logs/s5/kops.log" '^(replace|update) ') + $(count_lines "$work/logs/s5/terraform.log" '^(init|plan)( |$)') ))
jq -n --argjson clusters 16 --argjson delay "$step_delay" --argjson timed "$timed_steps" --argjson outputs "$s5_outputs" \
  '{clusters: $clusters, step_seconds: $delay, timed_steps: $timed, terraform_outputs: $outputs}' >"$results/s5.facts.json"
trace "$work/s5.trace" "$kopsform" -C "$s5" --all --yes --force --jobs 8 cluster-update plan
procs "$work/s5.trace" s5
# One timed step of a stand-in alone: the sleep plus starting sh and sleep.
hf s5-step -N "${fast[@]}" -n "stand-in step alone (terraform init)" "$s5/bin/terraform init"
hf s5 -N "${slow[@]}" \
  -n "jobs 1" "$kopsform -C $s5 --all --yes --force --quiet --jobs 1 cluster-update plan" \
  -n "jobs 4" "$kopsform -C $s5 --all --yes --force --quiet --jobs 4 cluster-update plan" \
  -n "jobs 8" "$kopsform -C $s5 --all --yes --force --quiet --jobs 8 cluster-update plan"

# --- Instruction counts ---------------------------------------------------------------------------

if [ "$callgrind" = after ]; then
  say "instruction counts (bench/callgrind.sh; the --jobs 2 and 50,000-change runs take minutes)"
  instruction_counts
elif [ "${callgrind#file:}" != "$callgrind" ]; then
  waited=0
  until [ -s "${callgrind#file:}" ]; do
    [ "$waited" -eq 0 ] && say "waiting for ${callgrind#file:} (bench/callgrind.sh)"
    [ "$waited" -lt 1800 ] || die "${callgrind#file:} did not appear in 30 minutes"
    sleep 10
    waited=$((waited + 10))
  done
  cp "${callgrind#file:}" "$results/callgrind.txt"
  callgrind=file
elif [ -n "$callgrind_pid" ]; then
  say "waiting for the instruction counts (bench/callgrind.sh)"
  wait "$callgrind_pid" || die "bench/callgrind.sh failed"
fi

# --- Report ---------------------------------------------------------------------------------------

say "report"
jq -n --argjson quick "$quick" --argjson seconds "$(($(date +%s) - started))" \
  --arg fast "${fast[*]}" --arg slow "${slow[*]}" --argjson rss_runs "$rss_runs" \
  --argjson rounds "$rounds" --arg round "${round[*]}" --arg round_fast "${round_fast[*]}" \
  --arg kopsform "$kopsform" --arg just "$just_bin" --arg callgrind "$callgrind" \
  --arg load_start "$load_start" --arg load_end "$(cut -d' ' -f1-3 /proc/loadavg)" \
  '{quick: ($quick == 1), seconds: $seconds, fast: $fast, slow: $slow, rss_runs: $rss_runs,
    rounds: $rounds, round: $round, round_fast: $round_fast, callgrind: $callgrind,
    kopsform: $kopsform, just: $just, load_start: $load_start, load_end: $load_end}' >"$results/meta.json"
python3 "$bench/report.py" "$results" >"$work/performance.md"
cp "$work/performance.md" "$repo/docs/performance.md"
say "wrote docs/performance.md ($(($(date +%s) - started)) s)"
