#!/usr/bin/env bash
# Run once here (with internet) before bench/gpu.sh on the device machine: the wheels its Python lacks (hydra-core,
# omegaconf, the antlr4 runtime: pure Python) into .whl/, and a copy of BCCD into .gpu_data/bccd for the quality
# bar. Both folders are git-ignored: name them in the device call's carry, [".whl", ".gpu_data"].
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl .gpu_data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl hydra-core==1.3.8 omegaconf==2.3.1
python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3  # an sdist only: built here, pure Python
rm -rf .gpu_data/bccd && cp -r ../shared/datasets/bccd .gpu_data/bccd
du -sh .whl .gpu_data
