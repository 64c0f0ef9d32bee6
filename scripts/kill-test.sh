#!/usr/bin/env bash
# The bench kill test, repeated (issue 14's figure): `credence bench` on a 4-run suite SIGKILLed
# at random moments — in training, evaluation and the database insert alike — and restarted
# until it finishes; the database must end equal to an uninterrupted run's, every time.
#
#   bash scripts/kill-test.sh [REPEATS]     # default 20; seeds 1..REPEATS
#
# Each repeat runs `BenchCLITests.killedAtRandomMomentsAndRestartedEndsWithTheUninterruptedDatabase`
# (10 kills at most, 3 at least) with CREDENCE_KILL_TEST_SEED set to its seed, so each one kills
# at other moments. Prints one line per repeat (kills, moments, rows stored at each kill) and a
# summary; exits 1 when any repeat failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPEATS="${1:-20}"
swift build --build-tests >/dev/null
passed=0 kills=0
for seed in $(seq 1 "$REPEATS"); do
  log="$(CREDENCE_KILL_TEST_SEED=$seed swift test --skip-build --filter 'BenchCLITests/killedAtRandomMomentsAndRestartedEndsWithTheUninterruptedDatabase' 2>&1 || true)"
  line="$(grep -m1 '^kill test' <<<"$log" || echo "kill test (seed $seed): no result")"
  if grep -q 'Test run with 1 test .* passed' <<<"$log"; then
    passed=$((passed + 1)); verdict="same database"
  else
    verdict="FAILED"; grep -E '✘|Expectation failed' <<<"$log" | head -5 >&2 || true
  fi
  n="$(sed -n 's/.*: \([0-9]*\) kills.*/\1/p' <<<"$line")"
  kills=$((kills + ${n:-0}))
  echo "$line — $verdict"
done
echo "kill-test: $passed of $REPEATS repeats ended with the uninterrupted database ($kills kills in all)"
[ "$passed" -eq "$REPEATS" ]
