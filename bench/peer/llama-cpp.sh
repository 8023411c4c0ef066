#!/usr/bin/env bash
# llama.cpp beside our bench on the same card (bench/peer/README.md). Run from the project root on the
# GPU machine, with DIR made by prepare.sh (DIR/llama: llama.cpp's source, the GGUF plans, the writer;
# DIR/ours: our CLI bundle and the summary's bundle):
#   bash DIR/llama/llama-cpp.sh all   DIR OUT   everything in one call (needs node: source .device/setup.sh first)
#   bash DIR/llama/llama-cpp.sh llama DIR OUT   build llama-bench, write the GGUFs, run llama-bench (no node needed)
#   bash DIR/ours/llama-cpp.sh  ours  DIR OUT   our bench, llama-bench again if a previous call on this machine
#                                               built it, and the summary (node needed)
# The two-call form exists because a call carries at most 64 MiB: Node and Dawn (.device, 32 MiB) and
# llama.cpp's source (5 MiB) may not both fit beside the project. Results stay in $PEER_CACHE between
# calls on the same (warm) machine.
# Stages: 1. build llama-bench (CUDA if nvcc is there, else Vulkan if glslc is, else say so), in the
# background on all cores but the first two; 2. meanwhile write a random Q4_0 GGUF per preset (shapes
# from bench/peer/gguf-plan.ts) and run our bench on each preset pinned to the first two cores; 3. with
# the GPU to itself, llama-bench on each GGUF, then our bench with --f16 while time allows; 4. the summary:
# OUT/summary.json (llama.cpp's figures beside ours, with ratios: bench/peer/summary.ts), OUT/raw-STAGE.tgz.
# Environment (defaults in brackets): PRESETS ["glm-4-9b glm-edge-1.5b"], LLAMA_BENCH_ARGS ["-p 512 -n 128
# -ngl 99 -d 0,512"], OURS_ARGS ["--prompt 512 --decode 128"], OURS_SIZE (e.g. "--layers 1 --vocab 1024",
# for a local check: the GGUF plans are made by prepare.sh with PLAN_SIZE), BACKEND [auto] (cuda, vulkan
# or cpu), CUDA_ARCH [90], PEER_CACHE [/tmp/glm-peer], LLAMA_BENCH (an already built llama-bench: no
# build), F16_UNTIL_S [420] (no f16 runs after this many seconds), PIN [auto] (0: no core pinning).
set -uo pipefail

stage=${1:?usage: llama-cpp.sh all|llama|ours DIR OUT}
dir=$(cd "${2:?usage: llama-cpp.sh all|llama|ours DIR OUT}" && pwd)
out=$(mkdir -p "${3:?usage: llama-cpp.sh all|llama|ours DIR OUT}" && cd "$3" && pwd)
case $stage in all | llama | ours) ;; *) echo "llama-cpp.sh: stage must be all, llama or ours (got $stage)" >&2; exit 2 ;; esac
do_llama() { [ "$stage" != ours ]; }
do_ours() { [ "$stage" != llama ]; }
PRESETS=${PRESETS:-glm-4-9b glm-edge-1.5b}
LLAMA_BENCH_ARGS=${LLAMA_BENCH_ARGS:--p 512 -n 128 -ngl 99 -d 0,512}
OURS_ARGS=${OURS_ARGS:---prompt 512 --decode 128}
OURS_SIZE=${OURS_SIZE:-}
BACKEND=${BACKEND:-auto}
CUDA_ARCH=${CUDA_ARCH:-90}
PEER_CACHE=${PEER_CACHE:-/tmp/glm-peer}
F16_UNTIL_S=${F16_UNTIL_S:-420}
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
say() { echo "[peer $(elapsed)s] $*"; }
res="$PEER_CACHE/results"
mkdir -p "$res"
if do_llama; then rm -f "$res"/llama-* "$res"/gguf-*; fi
if do_ours; then rm -f "$res"/ours-*; fi
commit_file=$dir/llama/llama-src.commit
[ -f "$commit_file" ] || commit_file=$dir/ours/llama-src.commit
commit=$(cut -d' ' -f1 "$commit_file")
src="$PEER_CACHE/llama.cpp-${commit:0:10}"

# Cores: the build gets all but the first two, which run our bench (its recording is CPU work).
cores=$(nproc)
if [ "${PIN:-auto}" != 0 ] && [ "$cores" -ge 6 ] && command -v taskset >/dev/null; then
  pin_build=(taskset -c "2-$((cores - 1))"); pin_ours=(taskset -c 0,1); jobs=$((cores - 2))
else
  pin_build=(); pin_ours=(); jobs=$cores
fi

# ---- what this machine has (kept in the results, so the report says what was possible)
[ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH
nvcc_version=$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || true)
glslc_version=$(glslc --version 2>/dev/null | head -1 || true)
if [ "$BACKEND" = auto ]; then
  if [ -n "$nvcc_version" ]; then BACKEND=cuda; elif [ -n "$glslc_version" ]; then BACKEND=vulkan; else BACKEND=none; fi
fi
gpu_name=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)
say "stage $stage; backend $BACKEND; nvcc: ${nvcc_version:-none}; glslc: ${glslc_version:-none}; cmake: $(cmake --version 2>/dev/null | head -1);" \
  "gpu: ${gpu_name:-none}; cores $cores; llama.cpp $(cat "$commit_file")"
bench_bin=${LLAMA_BENCH:-$src/build-$BACKEND/bin/llama-bench}

# ---- 1. build llama-bench (background); the source also holds gguf-py, which writes the GGUF files
if do_llama; then
  [ -f "$src/CMakeLists.txt" ] || { mkdir -p "$src" && tar xJf "$dir/llama/llama-src.tar.xz" -C "$src"; }
  if [ -n "${LLAMA_BENCH:-}" ]; then
    say "using the llama-bench given: $bench_bin"
  elif [ "$BACKEND" = none ]; then
    say "no nvcc and no glslc on this machine: llama.cpp cannot be built for its GPU here"
  elif [ -x "$bench_bin" ]; then
    say "llama-bench already built: $bench_bin"
  else
    case $BACKEND in
      cuda) backend_flags=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" -DGGML_CUDA_NCCL=OFF) ;;
      vulkan) backend_flags=(-DGGML_VULKAN=ON) ;;
      *) backend_flags=() ;;
    esac
    rm -f "$res"/build.*
    generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
    (
      t0=$(date +%s)
      # Only what llama-bench needs: no tests, examples, server, app, HTTPS; one static binary.
      "${pin_build[@]}" cmake -S "$src" -B "$src/build-$BACKEND" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
        "${backend_flags[@]}" > "$res/build.log" 2>&1 &&
        "${pin_build[@]}" cmake --build "$src/build-$BACKEND" --target llama-bench -j "$jobs" >> "$res/build.log" 2>&1
      rc=$?
      echo "$rc $(( $(date +%s) - t0 )) $BACKEND" > "$res/build.done"
    ) &
    build_pid=$!
    say "building llama-bench ($BACKEND, $jobs jobs) in the background; log: build.log in the raw results"
  fi
  for p in $PRESETS; do
    [ -s "$PEER_CACHE/$p.gguf" ] && [ "$PEER_CACHE/$p.gguf" -nt "$dir/llama/plans/$p.json" ] && { say "GGUF of $p already written"; continue; }
    # Written under another name first: a call stopped mid-write leaves no file that looks complete.
    "${pin_ours[@]}" python3 "$dir/llama/write_random_gguf.py" --plan "$dir/llama/plans/$p.json" --out "$PEER_CACHE/$p.gguf.part" --gguf-py "$src/gguf-py" \
      > "$res/gguf-$p.log" 2>&1 && mv "$PEER_CACHE/$p.gguf.part" "$PEER_CACHE/$p.gguf" || say "writing the GGUF of $p failed:"
    tail -3 "$res/gguf-$p.log"
  done
fi

# ---- 2. our bench (f32) while it builds
ours_run() { # preset, activations
  local f16=(); [ "$2" = f16 ] && f16=(--f16)
  say "ours: $1 $2"
  # shellcheck disable=SC2086
  "${pin_ours[@]}" node "$dir/ours/run-cli.mjs" bench --preset "$1" $OURS_ARGS $OURS_SIZE "${f16[@]}" --json "$res/ours-$1-$2.json" \
    2> "$res/ours-$1-$2.log" || { say "our bench failed on $1 $2:"; tail -5 "$res/ours-$1-$2.log"; }
}
if do_ours; then
  # Carried compressed (a call's 64 MiB): unpacked beside run-cli.mjs, inside the project, so that the
  # bundle's import of 'webgpu' finds the project's node_modules (.device/setup.sh puts Dawn there).
  [ -f "$dir/ours/cli/main.js" ] || tar xJf "$dir/ours/cli.tar.xz" -C "$dir/ours"
  for p in $PRESETS; do [ -f "$dir/ours/plans/$p.json" ] || xz -dk "$dir/ours/plans/$p.json.xz"; done
  for p in $PRESETS; do ours_run "$p" f32; done
fi

# ---- 3. llama-bench, alone on the GPU; then our f16 runs
if [ -n "${build_pid:-}" ]; then
  say "waiting for the build"
  wait "$build_pid"
  read -r build_rc build_s _ < "$res/build.done"
  say "build: exit $build_rc after ${build_s}s"
  tail -3 "$res/build.log"
fi
if [ -x "$bench_bin" ]; then
  for p in $PRESETS; do
    [ -s "$PEER_CACHE/$p.gguf" ] || { say "no GGUF of $p on this machine (a 'llama' stage writes it)"; continue; }
    say "llama-bench: $p $LLAMA_BENCH_ARGS"
    # shellcheck disable=SC2086
    "$bench_bin" -m "$PEER_CACHE/$p.gguf" $LLAMA_BENCH_ARGS -o json > "$res/llama-$p.json" 2> "$res/llama-$p.log" \
      || { say "llama-bench failed on $p:"; tail -15 "$res/llama-$p.log"; }
    # Its figures in the log at once (a 'llama' stage has no node for the summary).
    python3 -c 'import json, sys
for r in json.load(open(sys.argv[1])):
    print("  %s %s: pp%d tg%d d%d: %.1f +- %.1f tok/s" % (r["gpu_info"], r["backends"], r["n_prompt"], r["n_gen"], r["n_depth"], r["avg_ts"], r["stddev_ts"]))' \
      "$res/llama-$p.json" 2>/dev/null || true
  done
else
  say "no llama-bench on this machine${LLAMA_BENCH:+ at $LLAMA_BENCH} (a 'llama' stage builds it)"
fi
if do_ours; then
  for p in $PRESETS; do
    if [ "$(elapsed)" -ge "$F16_UNTIL_S" ]; then say "no time left for ours $p f16"; continue; fi
    ours_run "$p" f16
  done
fi

# ---- 4. summary (needs node: not in a 'llama' stage)
{
  echo "stage=$stage backend=$BACKEND nvcc=$nvcc_version gpu=$gpu_name llama.cpp=$(cat "$commit_file")"
  echo "llama_bench_args=$LLAMA_BENCH_ARGS ours_args=$OURS_ARGS $OURS_SIZE seconds=$(elapsed)"
} > "$res/env-$stage.txt"
tar czf "$out/raw-$stage.tgz" -C "$res" .
if do_ours; then
  summary=()
  for p in $PRESETS; do
    summary+=(--preset "$p" --plan "$dir/ours/plans/$p.json")
    [ -s "$res/llama-$p.json" ] && summary+=(--llama "$res/llama-$p.json")
    for a in f32 f16; do [ -s "$res/ours-$p-$a.json" ] && summary+=(--ours "$res/ours-$p-$a.json"); done
  done
  build_info=$(cat "$res/build.done" 2>/dev/null || echo "")
  node "$dir/ours/peer/main.js" summary "${summary[@]}" --build "$build_info" --gpu "$gpu_name" --out "$out/summary.json" \
    || say "the summary failed"
fi
say "done"
