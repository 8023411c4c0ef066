#!/usr/bin/env bash
# Prepares, on a machine with the npm registry, everything bench/peer/llama-cpp.sh needs on the GPU
# machine (which has no network), in two folders to carry there (bench/peer/README.md):
#   DIR/llama/  llama-src.tar.xz: llama.cpp's source as node-llama-cpp bundles it (llama/gitRelease.bundle),
#               without what building llama-bench does not need (docs, models, web UI, tests, other GPU
#               backends): about 5 MiB instead of the bundle's 34 MiB; llama-src.commit; plans/P.json (the
#               GGUF plan of each preset); write_random_gguf.py; llama-cpp.sh
#   DIR/ours/   cli.tar.xz (our CLI bundle, unpacked there and started by run-cli.mjs), peer/main.js
#               (bench/peer/main.ts: plans and the summary), plans/, llama-src.commit, llama-cpp.sh: about
#               0.3 MiB, for a call that also carries Node and Dawn (.device, 32 MiB) beside the project
# Usage: bash bench/peer/prepare.sh DIR      (from the project root, after npm ci)
# PRESETS (default "glm-4-9b glm-edge-1.5b") and PLAN_SIZE (e.g. "--layers 2 --vocab 1024", for a local
# check) choose the GGUF plans.
set -euo pipefail

# The node-llama-cpp release whose llama.cpp we measure against; change it to measure another.
NODE_LLAMA_CPP_VERSION=3.22.1

dir=${1:?usage: bash bench/peer/prepare.sh DIR}
PRESETS=${PRESETS:-glm-4-9b glm-edge-1.5b}
root=$(pwd)
[ -f "$root/bench/peer/llama-cpp.sh" ] || { echo "prepare.sh: run it from the project root" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$dir/llama" "$dir/ours"
if grep -qs "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" "$dir/llama/llama-src.commit"; then
  echo "prepare: llama.cpp source of node-llama-cpp@$NODE_LLAMA_CPP_VERSION already there"
else
  echo "prepare: npm pack node-llama-cpp@$NODE_LLAMA_CPP_VERSION"
  (cd "$work" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null)
  tar xzf "$work"/node-llama-cpp-*.tgz -C "$work" package/llama/gitRelease.bundle
  git clone -q "$work/package/llama/gitRelease.bundle" "$work/llama.cpp" 2>/dev/null
  commit=$(git -C "$work/llama.cpp" rev-parse HEAD)
  mkdir "$work/src"
  git -C "$work/llama.cpp" archive HEAD | tar x -C "$work/src"
  # Not needed for llama-bench with the CPU, CUDA or Vulkan backend. The tools' CMakeLists still
  # configure every tool, so the tools' sources stay (only the web UI's assets go).
  (cd "$work/src" && rm -rf docs models media benches tests examples pocs app tools/ui tools/server/public tools/server/webui \
    ggml/src/ggml-et ggml/src/ggml-metal ggml/src/ggml-hexagon ggml/src/ggml-sycl ggml/src/ggml-opencl ggml/src/ggml-cann \
    ggml/src/ggml-musa ggml/src/ggml-hip ggml/src/ggml-webgpu ggml/src/ggml-zdnn ggml/src/ggml-zendnn ggml/src/ggml-openvino \
    ggml/src/ggml-virtgpu)
  tar cf - -C "$work/src" . | xz -T0 -6 > "$dir/llama/llama-src.tar.xz"
  echo "$commit node-llama-cpp@$NODE_LLAMA_CPP_VERSION" > "$dir/llama/llama-src.commit"
fi

echo "prepare: bundling our CLI and bench/peer/main.ts"
npx vite build --mode cli --logLevel warn
npx vite build --mode cli --ssr bench/peer/main.ts --outDir dist/peer --logLevel warn
rm -rf "$dir/ours/cli" "$dir/ours/peer" "$dir/llama/plans"
mkdir -p "$dir/ours/peer" "$dir/llama/plans"
tar cf - -C dist --exclude='*.map' cli | xz -9 > "$dir/ours/cli.tar.xz"
cp dist/peer/main.js "$dir/ours/peer/main.js"
for p in $PRESETS; do
  # shellcheck disable=SC2086
  node dist/peer/main.js plan --preset "$p" ${PLAN_SIZE:-} --out "$dir/llama/plans/$p.json"
  xz -9 -k "$dir/llama/plans/$p.json" # the copy in ours/ (the summary reads only bytes per token)
done
mkdir -p "$dir/ours/plans" && mv "$dir/llama/plans/"*.xz "$dir/ours/plans/"
cp "$dir/llama/llama-src.commit" "$dir/ours/"
cp bench/peer/llama-cpp.sh bench/peer/write_random_gguf.py "$dir/llama/"
cp bench/peer/llama-cpp.sh bench/peer/run-cli.mjs "$dir/ours/"
du -sh "$dir/llama" && du -sb "$dir/ours"
