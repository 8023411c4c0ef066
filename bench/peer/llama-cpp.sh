#!/usr/bin/env bash
# llama.cpp beside our bench, in one call on one card (bench/peer/README.md). Run from the project root
# on the GPU machine, after `source .device/setup.sh` (node and Dawn), with DIR made by prepare.sh:
#   bash DIR/llama-cpp.sh DIR OUT
# 1. builds llama-bench from DIR/llama-src.tar.xz (CUDA if nvcc is there, else Vulkan if glslc is, else
#    says so and stops) into $PEER_CACHE, in the background, on all cores but the first two;
# 2. meanwhile writes a random Q4_0 GGUF per preset (bench/peer/gguf-plan.ts: llama.cpp's chatglm tensors
#    with the preset's exact shapes) and runs our bench on each preset, pinned to the first two cores;
# 3. then, the GPU to itself, llama-bench on each GGUF, and (time allowing) our bench with --f16;
# 4. writes OUT/summary.json (llama.cpp's figures beside ours, with ratios: bench/peer/summary.ts) and
#    OUT/raw.tgz (every JSON and log of the run).
# Environment (defaults in brackets): PRESETS ["glm-4-9b glm-edge-1.5b"], LLAMA_BENCH_ARGS ["-p 512 -n 128
# -ngl 99 -d 0,512"], OURS_ARGS ["--prompt 512 --decode 128"], LAYERS/VOCAB (shrink both models, for a
# local check), BACKEND [auto] (cuda, vulkan or cpu), CUDA_ARCH [90], PEER_CACHE [/tmp/glm-peer],
# LLAMA_BENCH (an already built llama-bench: no build), F16_UNTIL_S [420] (no f16 runs after this many
# seconds), PIN [auto] (0: no core pinning).
set -uo pipefail

dir=$(cd "${1:?usage: llama-cpp.sh DIR OUT}" && pwd)
out=$(mkdir -p "${2:?usage: llama-cpp.sh DIR OUT}" && cd "$2" && pwd)
PRESETS=${PRESETS:-glm-4-9b glm-edge-1.5b}
LLAMA_BENCH_ARGS=${LLAMA_BENCH_ARGS:--p 512 -n 128 -ngl 99 -d 0,512}
OURS_ARGS=${OURS_ARGS:---prompt 512 --decode 128}
BACKEND=${BACKEND:-auto}
CUDA_ARCH=${CUDA_ARCH:-90}
PEER_CACHE=${PEER_CACHE:-/tmp/glm-peer}
F16_UNTIL_S=${F16_UNTIL_S:-420}
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
say() { echo "[peer $(elapsed)s] $*"; }
res="$PEER_CACHE/results"
rm -rf "$res" && mkdir -p "$res"
size=()
[ -n "${LAYERS:-}" ] && size+=(--layers "$LAYERS")
[ -n "${VOCAB:-}" ] && size+=(--vocab "$VOCAB")

# Cores: the build gets all but the first two, which run our bench (its recording is CPU work).
cores=$(nproc)
if [ "${PIN:-auto}" != 0 ] && [ "$cores" -ge 6 ] && command -v taskset >/dev/null; then
  pin_build=(taskset -c "2-$((cores - 1))"); pin_ours=(taskset -c 0,1); jobs=$((cores - 2))
else
  pin_build=(); pin_ours=(); jobs=$cores
fi

# ---- what this machine has (written to the summary, so the report says what was possible)
[ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH
nvcc_version=$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || true)
glslc_version=$(glslc --version 2>/dev/null | head -1 || true)
if [ "$BACKEND" = auto ]; then
  if [ -n "$nvcc_version" ]; then BACKEND=cuda; elif [ -n "$glslc_version" ]; then BACKEND=vulkan; else BACKEND=none; fi
fi
gpu_name=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)
say "backend $BACKEND; nvcc: ${nvcc_version:-none}; glslc: ${glslc_version:-none}; cmake: $(cmake --version 2>/dev/null | head -1);" \
  "gpu: ${gpu_name:-none}; cores $cores; llama.cpp $(cat "$dir/llama-src.commit")"

# ---- 1. build llama-bench (background); the source also holds gguf-py, which writes the GGUF files
commit=$(cut -d' ' -f1 "$dir/llama-src.commit")
src="$PEER_CACHE/llama.cpp-${commit:0:10}"
[ -f "$src/CMakeLists.txt" ] || { mkdir -p "$src" && tar xJf "$dir/llama-src.tar.xz" -C "$src"; }
build_s=null
if [ -n "${LLAMA_BENCH:-}" ]; then
  bench_bin=$LLAMA_BENCH
  say "using the llama-bench given: $bench_bin"
elif [ "$BACKEND" = none ]; then
  bench_bin=
  say "no nvcc and no glslc on this machine: llama.cpp cannot be built for the GPU here; our bench runs alone"
else
  build="$src/build-$BACKEND"
  bench_bin="$build/bin/llama-bench"
  case $BACKEND in
    cuda) backend_flags=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" -DGGML_CUDA_NCCL=OFF) ;;
    vulkan) backend_flags=(-DGGML_VULKAN=ON) ;;
    *) backend_flags=() ;;
  esac
  if [ ! -x "$bench_bin" ]; then
    generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
    (
      t0=$(date +%s)
      # Only what llama-bench needs: no tests, examples, server, app, HTTPS; one static binary.
      "${pin_build[@]}" cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
        "${backend_flags[@]}" > "$res/build.log" 2>&1 &&
        "${pin_build[@]}" cmake --build "$build" --target llama-bench -j "$jobs" >> "$res/build.log" 2>&1
      rc=$?
      echo "$rc $(( $(date +%s) - t0 ))" > "$res/build.done"
    ) &
    build_pid=$!
    say "building llama-bench ($BACKEND, $jobs jobs) in the background, log in raw.tgz/build.log"
  else
    say "llama-bench already built: $bench_bin"
  fi
fi

# ---- 2. GGUF files and our bench (f32) while it builds
for p in $PRESETS; do
  node "$dir/peer/main.js" plan --preset "$p" "${size[@]}" --out "$res/plan-$p.json" || say "plan $p failed"
  if [ -n "$bench_bin" ]; then
    "${pin_ours[@]}" python3 "$dir/write_random_gguf.py" --plan "$res/plan-$p.json" --out "$PEER_CACHE/$p.gguf" --gguf-py "$src/gguf-py" \
      > "$res/gguf-$p.log" 2>&1 || say "writing the GGUF of $p failed:"
    tail -3 "$res/gguf-$p.log"
  fi
done
for p in $PRESETS; do
  say "ours: $p f32"
  # shellcheck disable=SC2086
  "${pin_ours[@]}" node "$dir/run-cli.mjs" bench --preset "$p" $OURS_ARGS "${size[@]}" --json "$res/ours-$p-f32.json" 2> "$res/ours-$p-f32.log" \
    || say "our bench failed on $p (see ours-$p-f32.log)"
done

# ---- 3. llama-bench, alone on the GPU
if [ -n "${build_pid:-}" ]; then
  say "waiting for the build"
  wait "$build_pid"
  read -r build_rc build_s < "$res/build.done"
  say "build: exit $build_rc after ${build_s}s"
  tail -5 "$res/build.log"
fi
if [ -n "$bench_bin" ] && [ -x "$bench_bin" ]; then
  for p in $PRESETS; do
    say "llama-bench: $p $LLAMA_BENCH_ARGS"
    # shellcheck disable=SC2086
    "$bench_bin" -m "$PEER_CACHE/$p.gguf" $LLAMA_BENCH_ARGS -o json > "$res/llama-$p.json" 2> "$res/llama-$p.log" \
      || { say "llama-bench failed on $p:"; tail -15 "$res/llama-$p.log"; }
  done
fi
for p in $PRESETS; do
  if [ "$(elapsed)" -ge "$F16_UNTIL_S" ]; then say "no time left for ours $p f16"; continue; fi
  say "ours: $p f16"
  # shellcheck disable=SC2086
  "${pin_ours[@]}" node "$dir/run-cli.mjs" bench --preset "$p" $OURS_ARGS "${size[@]}" --f16 --json "$res/ours-$p-f16.json" 2> "$res/ours-$p-f16.log" \
    || say "our bench failed on $p --f16 (see ours-$p-f16.log)"
done

# ---- 4. summary
{
  echo "{\"llamaCpp\": \"$(cat "$dir/llama-src.commit")\", \"backend\": \"$BACKEND\", \"nvcc\": \"$nvcc_version\", \"gpu\": \"$gpu_name\","
  echo " \"buildSeconds\": $build_s, \"totalSeconds\": $(elapsed), \"llamaBenchArgs\": \"$LLAMA_BENCH_ARGS\", \"presets\": ["
  first=1
  for p in $PRESETS; do
    ours=(); for f in "$res/ours-$p-f32.json" "$res/ours-$p-f16.json"; do [ -s "$f" ] && ours+=(--ours "$f"); done
    if [ -s "$res/llama-$p.json" ]; then
      [ $first = 1 ] || echo ","; first=0
      node "$dir/peer/main.js" summary --preset "$p" --llama "$res/llama-$p.json" --plan "$res/plan-$p.json" "${ours[@]}" \
        || echo "{\"preset\": \"$p\", \"error\": \"summary failed\"}"
    fi
  done
  echo "]}"
} > "$out/summary.json"
tar czf "$out/raw.tgz" -C "$res" .
say "done: $out/summary.json"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(`llama.cpp ${s.llamaCpp} (${s.backend}), build ${s.buildSeconds}s, total ${s.totalSeconds}s, ${s.gpu}`);
for (const p of s.presets) {
  if (p.error) { console.log(p.preset, p.error); continue; }
  console.log(`${p.preset} on ${p.card.llamaCpp} | llama.cpp: ` + p.llamaCpp.tests.map((t) => `${t.test} ${t.tokensPerSec.toFixed(1)}`).join(", ") +
    (p.llamaCpp.decodePercentOfOurRead === null ? "" : ` (decode ${p.llamaCpp.decodePercentOfOurRead.toFixed(1)}% of our read bandwidth)`));
  for (const o of p.ours) console.log(`  ours ${o.activations}: prefill ${o.prefillTokensPerSec?.toFixed(0)} tok/s, decode ${o.decodeTokensPerSec?.toFixed(1)} tok/s (${o.decodePercentOfRead?.toFixed(1)}% of read)${o.errors.length ? " ERRORS " + o.errors.join("; ") : ""}`);
  for (const r of p.ratios) console.log(`  ours/llama.cpp ${r.activations}: prefill ${r.prefill?.toFixed(2)}, decode ${r.decode?.toFixed(2)} (vs ${r.decodeAgainst})`);
}' "$out/summary.json" || cat "$out/summary.json"
