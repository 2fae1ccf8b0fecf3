#!/usr/bin/env bash
# The GPU recipe of the default model: one prepared run for a lent H100/H200 machine with 16 CPU
# cores (issue 12). Synthetic slices are rendered by 15 DataLoader workers, the network trains in
# bf16 with channels_last on the GPU, and the run is cut at TIME_S seconds (checkpoints are
# written every epoch, so a cut run still leaves its best epoch). Everything it makes is copied
# to $OUT (at most 8 files): best.safetensors, config.json, metrics.json, train.log. NOT YET RUN ON A
# GPU (no machine was lent to the sessions so far): 10 x 1000 x 128 = 1.28 M slices assumes ~3000
# rendered img/s from 15 workers; read the img/s of the first epoch in train.log and size STEPS to it.
#
#   OUT=/tmp/out bash scripts/train_gpu.sh                          # the recipe (GPU)
#   OUT=/tmp/out DEVICE=cpu WORKERS=1 EPOCHS=1 STEPS=2 BATCH=8 VAL=100000:100002 bash scripts/train_gpu.sh   # plumbing check on CPU
#
# The machine has torch, timm, onnx and the other heavy packages but not pydicom or nibabel:
# carry them as wheels in .whl/ (see /work/.library/device/README.md); they are installed to
# /tmp/site when present. ctphase itself runs from src/ (no pip install).
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
TRAIN=${TRAIN:-0:100000}
VAL=${VAL:-100000:100064}
INIT=${INIT:-}
HEADS=${HEADS:-1}   # 1: also train the subphase and seconds heads (as the default model v3)
LOSS=${LOSS:-ce}        # the best ablation arm at a fixed budget: heads + CE + a 2048-slice shuffle buffer at 224 px (model card)
BUFFER=${BUFFER:-2048}
PYTHON=${PYTHON:-python3}   # the interpreter that runs ctphase (tests pass their own)
ORGAN=${ORGAN:-1}   # 1 (with HEADS=1): also the organ enhancement head (+0.04-0.06 scan F1 on two seeds at the ablation budget; model card)
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
run=$(mktemp -d)/run
args=(train --train synth --arch "$ARCH" --size "$SIZE" --window 50,400 --window 100,200 --window 300,1500
      --epochs "$EPOCHS" --steps-per-epoch "$STEPS" --batch-size "$BATCH" --lr "$LR" --warmup-epochs 0.5
      --workers "$WORKERS" --threads 1 --synth-reuse 2 --device "$DEVICE" --amp auto --train-patients "$TRAIN"
      --val-patients "$VAL" --loss "$LOSS" --shuffle-buffer "$BUFFER" --out "$run")
[ -n "$INIT" ] && args+=(--init "$INIT")
[ "$HEADS" = 1 ] && args+=(--heads)
[ "$HEADS" = 1 ] && [ "$ORGAN" = 1 ] && args+=(--organ-head)
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader) | tee "$OUT/train.log" || true
start=$(date +%s)
set +e
timeout --signal=INT "$TIME_S" "$PYTHON" -m ctphase "${args[@]}" 2>&1 | tee -a "$OUT/train.log"
status=${PIPESTATUS[0]}
set -e
echo "exit $status after $(( $(date +%s) - start )) s (124/130: cut at TIME_S=$TIME_S s)" | tee -a "$OUT/train.log"
for f in best.safetensors config.json metrics.json; do
  [ -f "$run/$f" ] && cp "$run/$f" "$OUT/"
done
[ -f "$OUT/best.safetensors" ] || { echo "no checkpoint was written" | tee -a "$OUT/train.log"; exit 1; }
