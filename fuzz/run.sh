#!/usr/bin/env bash
# Runs every fuzz target of kopsform's parsers one after the other, each for SECONDS_PER_TARGET
# seconds (default 60) on its corpus in fuzz/corpus/<target>/, and exits 1 when any target found a
# crash, a hang or a memory blow-up (the input is left in fuzz/artifacts/<target>/).
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Extra libFuzzer flags may be given in FUZZ_FLAGS, e.g. FUZZ_FLAGS=-max_len=65536.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). It uses nightly-only compiler flags, which
# the stable toolchain accepts with RUSTC_BOOTSTRAP=1. New interesting inputs are added to the
# corpus; `cargo fuzz cmin TARGET -- -set_cover_merge=1 -use_counters=0` shrinks it again (every
# covered edge kept, in few files) before it is committed. Each target's full libFuzzer output is in
# fuzz/target/logs/<target>.log.
#
# A crash input is replayed with `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/FILE`;
# once fixed, copy it to fuzz/regressions/TARGET/, where `cargo test` replays it (src/fuzzing.rs).
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]  (seconds: a whole number, default 60)" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed; install it with:" >&2
    echo "    cargo install cargo-fuzz --locked" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
fi

echo "== $(cargo fuzz --version): building ${#targets[@]} targets"
cargo fuzz build --fuzz-dir "$fuzz_dir"

logs="$fuzz_dir/target/logs"
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
    corpus="$fuzz_dir/corpus/$target"
    artifacts="$fuzz_dir/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$logs/$target.log"
    before="$(find "$artifacts" -type f | sort)"
    echo "== $target: fuzzing for ${seconds}s (corpus $(find "$corpus" -type f | wc -l) files)"
    start=$(date +%s)
    status=0
    # --jobs 1: one fuzzing process (cargo-fuzz's default, no -fork), so the targets never run
    # at the same time. -timeout: an input that takes this long is a hang, reported as a crash.
    cargo fuzz run --fuzz-dir "$fuzz_dir" --jobs 1 "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_FLAGS:-} >"$log" 2>&1 || status=$?
    took=$(($(date +%s) - start))
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    if [[ -z "$execs" ]]; then
        execs="$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')"
    fi
    coverage="$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)"
    new="$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')"
    line="$target: ${took}s, ${execs:-0} executions, ${coverage:-no coverage line}"
    if ((status != 0)) || [[ -n "$new" ]]; then
        failed+=("$target")
        line="$line, FAILED (exit $status)"
        grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|ALARM|ERROR: libFuzzer)' "$log" |
            head -n 5 || true
        if [[ -n "$new" ]]; then
            echo "$new" | sed 's/^/    input: /'
        else
            tail -n 20 "$log"
        fi
    fi
    echo "   $line"
    summary+=("$line")
done

echo "== summary (logs in $logs)"
printf '   %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "== crashes in: ${failed[*]}; inputs in fuzz/artifacts/<target>/" >&2
    exit 1
fi
