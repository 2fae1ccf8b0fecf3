#!/usr/bin/env bash
# The GPU recipe of the default model: one prepared run for a lent H100/H200 machine with 16 CPU
# cores (issue 12). Synthetic slices are rendered by 15 DataLoader workers, the network trains in
# bf16 with channels_last on the GPU. Before training, scripts/stream_rate.py measures what the
# workers render per second (PROBE_S seconds) and sizes the steps per epoch so that the schedule
# ends within PLAN_S seconds at EFFICIENCY of that rate (at most STEPS); the run is still cut at
# TIME_S seconds as a last guard (checkpoints are written every epoch). Run once on an H200 (v32,
# model card): 993,280 slices in 8 of 10 planned epochs before EFFICIENCY existed. Everything it
# makes is copied to $OUT (at most 8 files): best.safetensors, last.safetensors, config.json,
# metrics.json, train.log.
#
#   OUT=/tmp/out bash scripts/train_gpu.sh                          # the recipe (GPU)
#   OUT=/tmp/out DEVICE=cpu WORKERS=1 EPOCHS=1 STEPS=2 BATCH=8 PROBE_S=0 VAL=100000:100002 bash scripts/train_gpu.sh   # plumbing check on CPU
#
# The machine has torch, timm, onnx and the other heavy packages but not pydicom or nibabel, which
# training does not import; wheels put in .whl/ are installed to /tmp/site when present (see
# /work/.library/device/README.md). ctphase itself runs from src/ (no pip install).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that comes back}"
mkdir -p "$OUT"
ARCH=${ARCH:-mobilenetv3_small}
SIZE=${SIZE:-224}   # v26 is this recipe at 224 px, trained on the CPU at 640,000 slices; the default v30 is v26 trained on (model card); 1.15 ms per slice
EPOCHS=${EPOCHS:-10}
STEPS=${STEPS:-1000}
BATCH=${BATCH:-128}
LR=${LR:-2e-3}
WORKERS=${WORKERS:-15}
DEVICE=${DEVICE:-cuda}
TIME_S=${TIME_S:-500}
PLAN_S=${PLAN_S:-380}   # seconds of training steps the plan aims at (TIME_S also holds worker start-up and validation)
PROBE_S=${PROBE_S:-20}  # 0: no probe, STEPS as given
EFFICIENCY=${EFFICIENCY:-0.65}  # training's share of the probe's rate: 0.69 in epochs 2-8 of the first H200 run (v32), which was cut at 8 of 10 epochs by planning with 1.0
REUSE=${REUSE:-4}       # each rendered slice used 4 times (differently augmented): on an H200 the step alone ran 4,867 img/s, 15 workers rendered 3,412 (model card)
TRAIN=${TRAIN:-0:100000}
VAL=${VAL:-100000:100032}
INIT=${INIT:-}
HEADS=${HEADS:-1}   # 1: also train the subphase and seconds heads (as the default model v3)
LOSS=${LOSS:-ce}        # the best ablation arm at a fixed budget: heads + CE + a 2048-slice shuffle buffer at 224 px (model card)
BUFFER=${BUFFER:-2048}
PYTHON=${PYTHON:-python3}   # the interpreter that runs ctphase (tests pass their own)
ORGAN=${ORGAN:-1}   # 1 (with HEADS=1): also the organ enhancement head (+0.04-0.06 scan F1 on two seeds at the ablation budget; model card)
WINDOWS=${WINDOWS:-"50,400 100,200 300,1500"}   # CENTER,WIDTH in HU, space-separated: the recipe's three windows
window_args=()
for w in $WINDOWS; do window_args+=(--window "$w"); done
stream_args=()   # what the synthetic stream yields: the heads' targets and extra conditions (the probe renders the same)
EXTRA=${EXTRA:-}   # NAME=RATE, space-separated: uncommon synthetic conditions on top of their rates (e.g. pet_ct=0.12, v22's lever)
for e in $EXTRA; do stream_args+=(--extra-condition "$e"); done
[ "$HEADS" = 1 ] && stream_args+=(--heads)
[ "$HEADS" = 1 ] && [ "$ORGAN" = 1 ] && stream_args+=(--organ-head)
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
run=$(mktemp -d)/run
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  echo "cpus $(nproc); /dev/shm $(df -m /dev/shm | awk 'NR==2 {print $2}') MiB"; } | tee "$OUT/train.log" || true
if [ "$PROBE_S" != 0 ]; then
  plan=$("$PYTHON" scripts/stream_rate.py --workers "$WORKERS" --reuse "$REUSE" --size "$SIZE" --batch "$BATCH" \
         --seconds "$PROBE_S" --plan-seconds "$PLAN_S" --epochs "$EPOCHS" --buffer "$BUFFER" --max-steps "$STEPS" \
         --efficiency "$EFFICIENCY" "${window_args[@]}" "${stream_args[@]}" 2>&1 | tail -n 1) || true
  echo "stream probe: $plan (PLAN_S=$PLAN_S, EFFICIENCY=$EFFICIENCY, EPOCHS=$EPOCHS, BATCH=$BATCH, at most STEPS=$STEPS)" | tee -a "$OUT/train.log"
  [[ $plan =~ steps=([0-9]+) ]] || { echo "the stream probe failed" | tee -a "$OUT/train.log"; exit 1; }
  STEPS=${BASH_REMATCH[1]}
fi
args=(train --train synth --arch "$ARCH" --size "$SIZE" "${window_args[@]}" "${stream_args[@]}"
      --epochs "$EPOCHS" --steps-per-epoch "$STEPS" --batch-size "$BATCH" --lr "$LR" --warmup-epochs 0.5
      --workers "$WORKERS" --threads 1 --synth-reuse "$REUSE" --device "$DEVICE" --amp auto --train-patients "$TRAIN"
      --val-patients "$VAL" --loss "$LOSS" --shuffle-buffer "$BUFFER" --out "$run")
[ -n "$INIT" ] && args+=(--init "$INIT")
start=$(date +%s)
set +e
timeout --signal=INT "$TIME_S" "$PYTHON" -m ctphase "${args[@]}" 2>&1 | tee -a "$OUT/train.log"
status=${PIPESTATUS[0]}
set -e
echo "exit $status after $(( $(date +%s) - start )) s (124/130: cut at TIME_S=$TIME_S s)" | tee -a "$OUT/train.log"
for f in best.safetensors last.safetensors config.json metrics.json; do
  [ -f "$run/$f" ] && cp "$run/$f" "$OUT/"
done
[ -f "$OUT/best.safetensors" ] || { echo "no checkpoint was written" | tee -a "$OUT/train.log"; exit 1; }
