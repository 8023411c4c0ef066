// Tile shape and grid of the prefill GEMM (shaders/matmul_gemm.wgsl) for n tokens x `rows` outputs.
//
// The kernel's tile is TILE_TOKENS = 4·TOKEN_VECS·THREADS_Y tokens x TILE_ROWS = 4·ROW_VECS·THREADS_X
// rows; each invocation holds 4·TOKEN_VECS x 4·ROW_VECS accumulators; K advances BK columns per step.
// Measured on an NVIDIA H200 (Dawn/Vulkan, GLM-4-9B matrices with Q4 weights; bench/gpu-gemm.ts),
// against the f32 rate of a plain WGSL FMA loop on the same device (63.9 TFLOP/s):
//   - 64 tokens x 128 rows, 4 x 8 register blocks, BK = 16 (13 KiB): the best all-round shape at 512
//     tokens (0.45 of the FMA loop over one layer's four matrices; 128 x 128 is as fast only on the
//     27392-row MLP matrix, slower on the 4096-row ones, which give it only 128-144 workgroups).
//   - 128 x 128, 8 x 8 blocks, BK = 16 (17 KiB): best once there are many workgroups (2048 tokens:
//     0.51-0.53 vs 0.45-0.48).
//   - 64 x 64, 4 x 4 blocks, BK = 32 (16.5 KiB): slower per workgroup, but twice as many; best when
//     64 x 128 tiles leave a big GPU half empty (the 4096-row matrices at 128 tokens). BK = 32 was
//     slower for the other two shapes.
// Few tokens or few rows shrink the thread grid (powers of two) so a 3-token or 7-row matmul does
// not run a tile of mostly idle invocations.

/** A tile shape of matmul_gemm.wgsl: threadsX/threadsY powers of two, the vecs 1 or 2, bk 16 or 32. */
export interface GemmShape {
  threadsX: number;
  threadsY: number;
  rowVecs: number;
  tokenVecs: number;
  /** Columns per K step (default 16). */
  bk?: number;
}

export interface GemmTiling {
  /** WGSL override constants of matmul_gemm.wgsl. */
  constants: { THREADS_X: number; THREADS_Y: number; ROW_VECS: number; TOKEN_VECS: number; BK: number };
  tileTokens: number;
  tileRows: number;
  /** Bytes of workgroup storage the shape stages. */
  workgroupStorage: number;
  /** The dispatch grid for a weight (part) of `rows` rows. */
  grid: (rows: number) => [number, number, number];
}

/** Below this many workgroups 64 x 128 tiles count as under-filling the GPU (an H200 has 132 SMs). */
const MIN_WORKGROUPS = 128;
/**
 * 128 x 128 tiles (the most registers per invocation: likely one workgroup per SM) pay off from this
 * many workgroups, where a partial last wave costs little.
 */
const MANY_WORKGROUPS = 512;
/** WebGPU's default maxComputeWorkgroupStorageSize, which every device has. */
const DEFAULT_WORKGROUP_STORAGE = 16384;

const pow2 = (v: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, v)));

const tiles = (s: GemmShape) => ({ tokens: 4 * s.tokenVecs * s.threadsY, rows: 4 * s.rowVecs * s.threadsX });

/** x and weight tiles: one vec4 per quad (4 tokens or 4 rows) and column, BK + 1 columns per quad. */
export function gemmWorkgroupStorage(s: GemmShape): number {
  const t = tiles(s);
  return ((t.tokens + t.rows) / 4) * ((s.bk ?? 16) + 1) * 16;
}

function chooseShape(n: number, rows: number, maxStorage: number): GemmShape {
  const fits = (s: GemmShape) => gemmWorkgroupStorage(s) <= maxStorage;
  if (n > 32 && rows > 64) {
    const count = (s: GemmShape) => Math.ceil(n / tiles(s).tokens) * Math.ceil(rows / tiles(s).rows);
    const big: GemmShape = { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 2, bk: 16 }; // 128 x 128
    const wide: GemmShape = { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 1, bk: 16 }; // 64 tokens x 128 rows
    const square: GemmShape = { threadsX: 16, threadsY: 16, rowVecs: 1, tokenVecs: 1, bk: 32 }; // 64 x 64
    if (fits(big) && count(big) >= MANY_WORKGROUPS) return big;
    if (count(wide) >= MIN_WORKGROUPS) return wide;
    return fits(square) ? square : { ...square, bk: 16 };
  }
  // Few tokens or few rows: 4 x 4 blocks on a thread grid shrunk to the problem.
  return {
    threadsX: Math.min(16, pow2(Math.ceil(rows / 4))),
    threadsY: Math.min(16, pow2(Math.ceil(n / 4))),
    rowVecs: 1,
    tokenVecs: 1,
    bk: 16,
  };
}

/**
 * Override constants and grid of matmul_gemm.wgsl for n tokens against a weight of `rows` outputs.
 * Row tiles beyond maxWorkgroupsPerDimension fold over grid z (the kernel recovers the tile as
 * wid.z * nwg.x + wid.x and drops the surplus workgroups). maxWorkgroupStorage is the device's
 * maxComputeWorkgroupStorageSize: the 128 x 128 and the BK = 32 shapes stage a little more than the
 * 16 KiB every device has, and are only chosen where they fit.
 */
export function gemmTiling(
  n: number,
  rows: number,
  maxWorkgroupsPerDimension: number,
  maxWorkgroupStorage: number = DEFAULT_WORKGROUP_STORAGE,
): GemmTiling {
  return gemmTilingOf(chooseShape(n, rows, maxWorkgroupStorage), n, maxWorkgroupsPerDimension);
}

/** Constants and grid of a given shape (tests and the bench run every shape). */
export function gemmTilingOf(shape: GemmShape, n: number, maxWorkgroupsPerDimension: number): GemmTiling {
  const tile = tiles(shape);
  return {
    constants: { THREADS_X: shape.threadsX, THREADS_Y: shape.threadsY, ROW_VECS: shape.rowVecs, TOKEN_VECS: shape.tokenVecs, BK: shape.bk ?? 16 },
    tileTokens: tile.tokens,
    tileRows: tile.rows,
    workgroupStorage: gemmWorkgroupStorage(shape),
    grid: (partRows: number) => {
      const rowTiles = Math.max(1, Math.ceil(partRows / tile.rows));
      const x = Math.min(rowTiles, maxWorkgroupsPerDimension);
      return [x, Math.ceil(n / tile.tokens), Math.ceil(rowTiles / x)];
    },
  };
}
