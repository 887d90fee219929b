#!/usr/bin/env bash
# One GPU lease, one command: the jobs of bench/gpu_train.py and bench/gpu.py side by side,
# each bounded in time, then what came back packed into OUT (the device tool returns at most 8
# files). The carried .gpu/ folder comes from bench/gpu_prepare.sh.
#
#     bash bench/gpu_run.sh OUT [SECONDS]          # on the GPU machine (python3 holds its torch)
#     TINY=1 PY=.venv/bin/python bash bench/gpu_run.sh /tmp/out 600   # here: the proof, on the CPU
#
# SECONDS bounds every job (default 470); the detectors' schedules end a minute before it.
# ONLY=timings | detectors | condition runs one group alone. The first lease ran all three at
# once: the processes shared the GPU by time slices (busy 99% throughout), the timings came out
# several times too slow and the six condition processes did not reach 300 of their 1200 steps
# in 470 s. So give each group a lease of its own (timings alone took 131 s).
set -u
out=${1:?where the packed results go}
budget=${2:-470}
py=${PY:-python3}
carry=.gpu
results=$(mktemp -d)
started=$(date +%s)

$py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$carry"/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/$carry/site PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
# The condition photos are slopes photos of the same names: only their labels travelled.
for split in train val; do
  [ -d "$carry/data" ] || break  # ONLY=timings needs no data
  mkdir -p "$carry/data/slope-conditions/$split/images"
  for label in "$carry/data/slope-conditions/$split/labels"/*.txt; do
    name=$(basename "$label" .txt)
    cp "$carry"/data/slopes/*/images/"$name".* "$carry/data/slope-conditions/$split/images/"
  done
done

if [ -n "${TINY:-}" ]; then  # seconds on a CPU: every path once, no figure worth keeping
  device=cpu det_device=cpu det="--minutes 0.3 --epochs 1 --workers 0 --batch 8" timings="--tiny"
  teach="--steps 3 --views 1 --batch 4 --cnn-epochs 1" folds="0" sizes="320"
else
  device=cuda det_device=0 det="--minutes $(((budget - 90) / 60)) --workers 3 --batch 32" timings=""
  teach="--steps ${STEPS:-1500} --views ${VIEWS:-32} --batch ${BATCH:-128}" folds="0 1 2 3 4" sizes="640 320"
fi
common=(--data "$carry/data/slope-conditions" --distil-data "$carry/data/slopes" --parent "$carry/distilled" --device "$device")
nvidia-smi dmon -s um -d 15 > "$results/nvidia-smi-dmon.log" 2>&1 &
monitor=$!

case "${ONLY:-}" in
  timings) sizes="" folds="" build=no ;;
  detectors) timings=no folds="" build=no ;;
  condition) timings=no sizes="" ;;
esac
[ "$timings" = no ] || OMP_NUM_THREADS=2 timeout "$budget" $py bench/gpu.py $timings --device $device \
  --out "$results/gpu-timings.json" > "$results/gpu-timings.log" 2>&1 &
for size in $sizes; do
  OMP_NUM_THREADS=2 timeout "$budget" $py bench/gpu_train.py detector --imgsz "$size" $det --device "$det_device" \
    --data "$carry/data/slopes" --out "$results/detector-$size" > "$results/detector-$size.log" 2>&1 &
done
for fold in $folds; do
  OMP_NUM_THREADS=1 timeout "$budget" $py bench/gpu_train.py condition-fold --fold "$fold" "${common[@]}" $teach \
    --out "$results/condition-fold-$fold.json" > "$results/condition-fold-$fold.log" 2>&1 &
done
[ "${build:-}" = no ] || OMP_NUM_THREADS=1 timeout "$budget" $py bench/gpu_train.py condition-build "${common[@]}" \
  $teach --out "$results/condition-build" > "$results/condition-build.log" 2>&1 &
jobs -l
wait $(jobs -p | grep -vx "$monitor")
kill "$monitor" 2>/dev/null
echo "all jobs ended after $(($(date +%s) - started)) s"

mkdir -p "$out"
for size in $sizes; do
  [ -f "$results/detector-$size/weights/last.pt" ] && mv "$results/detector-$size/weights/last.pt" "$out/detector-$size-last.pt"
done
[ -d "$results/condition-build" ] && tar cf "$out/condition-build.tar" -C "$results" condition-build
tar czf "$out/results.tgz" -C "$results" --exclude=condition-build .
ls -la "$out"
tail -n 3 "$results"/*.log
