#!/usr/bin/env bash
# Score a candidate checkpoint against a baseline by the model-choice rule of the model card (issue 12), both on
# the same data with the same code, then check the rule (benchmarks/model_choice.py). Needs ../shared/realdata.
#
#   bash scripts/score_candidate.sh OUT BASE.safetensors                      # the baseline's part (while CAND trains)
#   bash scripts/score_candidate.sh OUT BASE.safetensors RUN/last.safetensors # the candidate's part, latency, the rule
#   TEST=1 bash scripts/score_candidate.sh OUT BASE.safetensors RUN/last.safetensors  # then the test set, if it held
#
# Each step is skipped when its output is already in OUT, so the three calls above share one folder and an
# interrupted run continues where it stopped. BASE is used as it is (a shipped default is already exported and
# calibrated). CAND is exported with --exporter legacy and calibrated on synthetic patients 300000..300149 (the
# recipe's commands) unless it already holds a calibration. Writes into OUT: {base,cand}.safetensors,
# {base,cand}.real.json (realdata_check.py, each folder alone, 20 draws, rctt2022 not for choice), {base,cand}.sel/
# (ctphase evaluate on the selection patients 110000..110099), compare.sel.json, latency.json (and .txt), rule.txt; with TEST=1
# also {base,cand}.test/ (patients 200000..200049), compare.test.json, rule.test.txt. The sizes are the rule's;
# the variables below exist so that tests/scripts/test_score_candidate.py can run the plumbing at a toy size.
# READER_DRAWS=0 calibrates the candidate without a series reader (decided by its vote, as the default since v34).
set -euo pipefail
SEL_PATIENTS=${SEL_PATIENTS:-100} TEST_PATIENTS=${TEST_PATIENTS:-50} CAL_PATIENTS=${CAL_PATIENTS:-150}
DRAWS=${DRAWS:-20} BOOT=${BOOT:-1000} SLICES=${SLICES:-32}
REAL=(); [ -n "${REALDATA:-}" ] && REAL=(--realdata "$REALDATA")
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: $0 OUT BASE.safetensors [CAND.safetensors]" >&2; exit 2; }
OUT=$1 BASE=$2 CAND=${3:-}
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
CT=("$PY" -m ctphase)
mkdir -p "$OUT"
if [ -e "$OUT/base.safetensors" ]; then
  cmp -s "$BASE" "$OUT/base.safetensors" || { echo "$OUT holds another baseline than $BASE" >&2; exit 2; }
else
  cp "$BASE" "$OUT/base.safetensors"
fi
evaluate_on() {  # model $1 (base or cand) on synthetic set $2 (sel or test): $3 patients from patient $4
  [ -e "$OUT/$1.$2/metrics.json" ] || "${CT[@]}" evaluate --manifest synth --patients "$3" --patient-offset "$4" \
    --slices-per-scan "$SLICES" --bootstrap "$BOOT" --draws "$DRAWS" --model "$OUT/$1.safetensors" --out "$OUT/$1.$2" -q
}
compare_on() {  # the paired comparison of base and cand on set $1
  [ -e "$OUT/compare.$1.json" ] || "${CT[@]}" compare "$OUT/base.$1" "$OUT/cand.$1" --bootstrap "$BOOT" \
    --json "$OUT/compare.$1.json" > "$OUT/compare.$1.txt"
}
score() {  # the real series and the selection set for model $1 (base or cand)
  [ -e "$OUT/$1.real.json" ] || "$PY" benchmarks/realdata_check.py --model "$OUT/$1.safetensors" "${REAL[@]}" \
    --draws "$DRAWS" --json "$OUT/$1.real.json" > "$OUT/$1.real.txt"
  evaluate_on "$1" sel "$SEL_PATIENTS" 110000
}
score base
[ -n "$CAND" ] || { echo "baseline scored in $OUT; give the candidate as the third argument"; exit 0; }
if [ ! -e "$OUT/cand.safetensors" ]; then
  if "$PY" -c "import sys; from ctphase.models.checkpoint import load_checkpoint as l; sys.exit('calibration' not in l(sys.argv[1]).meta)" "$CAND"; then
    cp "$CAND" "$OUT/cand.safetensors"
  else
    [ -e "$OUT/exported.safetensors" ] || "${CT[@]}" export --model "$CAND" --embed "$OUT/exported.safetensors" --exporter legacy
    "${CT[@]}" calibrate --model "$OUT/exported.safetensors" --patients "$CAL_PATIENTS" --patient-offset 300000 \
      --slices-per-scan "$SLICES" ${READER_DRAWS:+--reader-draws "$READER_DRAWS"} --out "$OUT/cand.safetensors" -q
  fi
fi
score cand
compare_on sel
[ -e "$OUT/latency.json" ] || "$PY" benchmarks/model_latency.py --old "$OUT/base.safetensors" \
  --new "$OUT/cand.safetensors" --json "$OUT/latency.json" > "$OUT/latency.txt"
set +e
"$PY" benchmarks/model_choice.py "$OUT" | tee "$OUT/rule.txt"
passed=${PIPESTATUS[0]}
set -e
[ "${TEST:-0}" = 1 ] || exit "$passed"
[ "$passed" = 0 ] || { echo "the rule fails before the test set: the test set is not scored" >&2; exit 1; }
evaluate_on base test "$TEST_PATIENTS" 200000
evaluate_on cand test "$TEST_PATIENTS" 200000
compare_on test
"$PY" benchmarks/model_choice.py "$OUT" --test | tee "$OUT/rule.test.txt"
exit "${PIPESTATUS[0]}"
