#!/usr/bin/env bash
# Prepares, on a machine with the npm registry, everything bench/peer/llama-cpp.sh needs on the GPU
# machine (which has no network), in one folder to carry there (bench/peer/README.md):
#   llama-src.tar.xz      llama.cpp's source as node-llama-cpp bundles it (llama/gitRelease.bundle),
#                         without what building llama-bench does not need (docs, models, web UI, tests,
#                         other GPU backends): about 5 MiB instead of the bundle's 34 MiB
#   llama-src.commit      the commit of that source
#   cli/                  our CLI bundle (npx vite build --mode cli), started by run-cli.mjs
#   peer/main.js          bench/peer/main.ts bundled: GGUF plans and the summary
#   llama-cpp.sh, write_random_gguf.py, run-cli.mjs
# Usage: bash bench/peer/prepare.sh DIR      (from the project root, after npm ci)
set -euo pipefail

# The node-llama-cpp release whose llama.cpp we measure against; change it to measure another.
NODE_LLAMA_CPP_VERSION=3.22.1

dir=${1:?usage: bash bench/peer/prepare.sh DIR}
root=$(pwd)
[ -f "$root/bench/peer/llama-cpp.sh" ] || { echo "prepare.sh: run it from the project root" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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
tar cf - -C "$work/src" . | xz -T0 -6 > "$dir/llama-src.tar.xz"
echo "$commit node-llama-cpp@$NODE_LLAMA_CPP_VERSION" > "$dir/llama-src.commit"

echo "prepare: bundling our CLI and bench/peer/main.ts"
npx vite build --mode cli --logLevel warn
npx vite build --mode cli --ssr bench/peer/main.ts --outDir dist/peer --logLevel warn
rm -rf "$dir/cli" "$dir/peer"
cp -r dist/cli "$dir/cli"
mkdir -p "$dir/peer" && cp dist/peer/main.js "$dir/peer/main.js"
cp bench/peer/llama-cpp.sh bench/peer/write_random_gguf.py bench/peer/run-cli.mjs "$dir/"
du -sh "$dir" "$dir/llama-src.tar.xz"
