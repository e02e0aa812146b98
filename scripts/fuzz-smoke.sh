#!/usr/bin/env bash
# Short, bounded run of every fuzz target in fuzz/ (cargo-fuzz + libFuzzer + AddressSanitizer) on
# the stable toolchain. Fails, naming the target and the crashing input, on any panic, sanitizer
# report, leak, out-of-memory (see fuzz/README.md for the allocation limit) or slow input.
#
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]     (default 20)
#
#   FUZZ_TARGETS="frame_open p2p_hello"   run only these targets (default: all, from `cargo fuzz list`)
#   FUZZ_KEEP=1                           keep the scratch directory even when everything passed
#   FUZZ_SEED=N                           libFuzzer's random seed (default 1, so the test run is
#                                         repeatable; 0 picks a fresh one, for longer hunting runs)
#
# New corpus entries go to a scratch directory (listed first, so libFuzzer writes there); the
# committed seeds in fuzz/seeds/<target>/ are only read.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-20}"
CARGO_FUZZ_VERSION=0.13.2
RSS_LIMIT_MB=2048
# The largest single allocation the decoders may make is the 16 MiB message limit; see fuzz/README.md.
MALLOC_LIMIT_MB=32
INPUT_TIMEOUT_SECONDS=10
SEED="${FUZZ_SEED:-1}"

if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET (positive integer, default 20)]" >&2
  exit 2
fi

if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# cargo-fuzz passes -Z flags (sanitizer, coverage passes); RUSTC_BOOTSTRAP lets stable accept them.
# -a: debug assertions, hence integer overflow checks, in the fuzzed code.
echo "== building fuzz targets (AddressSanitizer, debug assertions)"
build_start=$(date +%s)
RUSTC_BOOTSTRAP=1 cargo fuzz build -a
echo "== build took $(($(date +%s) - build_start)) s"

host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="fuzz/target/$host/release"
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ethp2p-fuzz-smoke.XXXXXX")
failures=()
cleanup() {
  if [ "${#failures[@]}" -eq 0 ] && [ -z "${FUZZ_KEEP:-}" ]; then
    rm -rf "$scratch"
  else
    echo "scratch directory kept: $scratch"
  fi
}
trap cleanup EXIT

# What a libFuzzer exit code means (AddressSanitizer build, default exit codes).
describe_exit() {
  case "$1" in
    1) echo "sanitizer report (memory error)" ;;
    70) echo "slow input (over ${INPUT_TIMEOUT_SECONDS} s)" ;;
    71) echo "out of memory (rss > ${RSS_LIMIT_MB} MB or one malloc > ${MALLOC_LIMIT_MB} MB)" ;;
    77) echo "panic, abort or leak" ;;
    124 | 137) echo "hung: killed by the outer timeout" ;;
    *) echo "exit code $1" ;;
  esac
}

# libFuzzer reads ASAN_OPTIONS itself; cargo-fuzz runs targets with detect_odr_violation=0.
export ASAN_OPTIONS="detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

echo "== running ${#targets[@]} targets for ${SECONDS_PER_TARGET} s each (seed $SEED)"
for target in "${targets[@]}"; do
  bin="$bin_dir/$target"
  if [ ! -x "$bin" ]; then
    echo "FAIL $target: no binary at $bin" >&2
    failures+=("$target")
    continue
  fi
  work="$scratch/$target"
  mkdir -p "$work/corpus" "$work/artifacts"
  dirs=("$work/corpus")
  if [ -d "fuzz/seeds/$target" ]; then
    dirs+=("fuzz/seeds/$target")
  fi

  status=0
  timeout --kill-after=10 $((SECONDS_PER_TARGET + 120)) "$bin" \
    -max_total_time="$SECONDS_PER_TARGET" \
    -seed="$SEED" \
    -timeout="$INPUT_TIMEOUT_SECONDS" \
    -rss_limit_mb="$RSS_LIMIT_MB" \
    -malloc_limit_mb="$MALLOC_LIMIT_MB" \
    -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" \
    "${dirs[@]}" >"$work/log" 2>&1 || status=$?

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1 | cut -d' ' -f2 || true)
  features=$(grep -o 'ft: [0-9]*' "$work/log" | tail -n 1 | cut -d' ' -f2 || true)
  corpus=$(grep -o 'corp: [0-9]*' "$work/log" | tail -n 1 | cut -d' ' -f2 || true)
  summary="execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?} ft=${features:-?} corpus=${corpus:-?}"

  if [ "$status" -eq 0 ]; then
    printf 'ok   %-16s %s\n' "$target" "$summary"
  else
    failures+=("$target")
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n 1)
    printf 'FAIL %-16s %s: %s\n' "$target" "$(describe_exit "$status")" "$summary"
    echo "     artifact: ${artifact:-none written}"
    echo "     log: $work/log (the report's key lines below)"
    grep -E -A3 "panicked at|ERROR: |SUMMARY: " "$work/log" | head -n 40 | sed 's/^/     | /' || true
    if [ -n "$artifact" ]; then
      echo "     reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run -a $target $artifact -- -malloc_limit_mb=$MALLOC_LIMIT_MB"
    fi
  fi
done

if [ "${#failures[@]}" -ne 0 ]; then
  echo "== fuzz smoke run FAILED: ${failures[*]}" >&2
  exit 1
fi
echo "== fuzz smoke run passed"
