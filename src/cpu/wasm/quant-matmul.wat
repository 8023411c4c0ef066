;; WebAssembly SIMD kernels for y = x · Wᵀ over the engine's packed Q4/Q8 layout (src/quant/types.ts),
;; read in place: the weights are copied into this memory byte for byte, never repacked.
;;
;; Built by scripts/build-wasm.mjs (npm run build:wasm) into src/cpu/wasm/quant-matmul.wasm.ts, twice:
;; once as written (shared memory, for threads) and once with "shared" removed from the memory import
;; (pages that are not cross-origin isolated cannot create a shared memory).
;;
;; Memory map (byte addresses; the host, src/cpu/fast-matmul.ts, owns everything from 262144 up):
;;   [0, 262144)   f16 -> f32 table, 65536 entries, filled by init. Being at address 0, the table also
;;                 makes 0 an impossible weight address, so mins = 0 means "symmetric".
;;   [262144, ...) weights (packed codes, f16 scales, f16 mins) and per-call scratch.
;;
;; ---- Integer dot products ----
;; The weights are small integers (Q4 codes 0..15, Q8 codes -128..127), so the products are done in
;; integers: each group of 32 activations is quantized once per call to int16 (prep_x), the codes are
;; widened to int16, and i32x4.dot_i16x8_s (x86 pmaddwd: eight 16-bit products summed in pairs into
;; four i32) does the multiplies and half the adds. Per Q4 group and weight row V8 emits about 26
;; instructions instead of the 75 of a float decode (nibble -> i32 -> f32, f32 multiplies), which ran
;; at about 3.3 GB/s of weights per core on a 2-core AMD EPYC, short of the memory bandwidth.
;;
;; Activations: group g of row i (32 columns) gets its own scale sx = absmax / 32767 and
;; xq = round(x / sx), |xq| <= 32767. So |x - sx * xq| <= sx / 2 (plus float32 roundings, under 1%
;; of sx): an error of about 2^-16 (1.5e-5) of the group's largest |x|, against a Q4 weight step of
;; 1/15 of the group's range. A per-group scale (not one per row) keeps an outlier activation from
;; costing the precision of the whole row. Everything after the quantization is exact integer
;; arithmetic up to one conversion per group:
;;   Q4: every i32 lane sums 8 products c * xq (c <= 15) plus an offset correction (below), at most
;;       8 * 15 * 32767 + 8 * 8 * 32767 < 2^23 in magnitude: exact in i32 and exact when converted to f32.
;;   Q8: 8 products q * xq (|q| <= 128) per lane, < 2^25 (the conversion may round, by 2^-24).
;; Per group the four i32 lanes are converted, multiplied by (weight scale * sx) and added to a
;; float32x4 accumulator, whose lanes are summed once at the end of the row. Asymmetric Q4 adds
;; min * sum(x of the group) in float32, summed separately (sum(x) is the unquantized one, so the mins
;; see no activation error).
;;
;; Lane order. For Q4 a 16-byte load of codes is viewed as eight u16 lanes: lane l holds elements
;; 4l .. 4l+3 of the group (word l >> 1, nibbles 4(l & 1) .. 4(l & 1) + 3). Field f of every lane
;; (f = 0..3) is extracted by a shift and a mask, giving the codes of elements 4l + f; prep_x stores the
;; activations in the same order (slot 8f + l = element 4l + f), so no shuffles are needed. After
;; pmaddwd, i32 lane j sums u16 lanes 2j and 2j+1, that is elements 8j .. 8j+7 (code word j).
;; For Q8 the 32 bytes are the codes in order; sign-extending each half of a 16-byte load gives
;; elements in order, so prep_x stores them in natural order.
;;
;; Q4's offset 8 (value = (c - 8) * scale). The decode kernels (n = 1) leave the codes unsigned and add
;; a precomputed correction -8 * sum(xq of code word j) to i32 lane j; the prefill kernels (n > 1)
;; subtract 8 from the decoded codes once per group, which then serve several activation rows. Both give
;; exactly the same integer per lane, and the float steps after it are the same, so a row's result
;; does not depend on n, on how the rows are sliced, or on how they are split between threads.
;;
;; Prepared activations: row i, group g occupies 96 bytes at x + (i * gpr + g) * 96:
;;   [0, 64)   32 int16 xq in lane order (above); zero past cols, so a partial last group needs no
;;             special case (padding codes meet zero activations)
;;   [64, 80)  i32x4: Q4 offset correction per code word, -8 * sum(xq of elements 8j .. 8j+7); 0 for Q8
;;   80        f32 sx, the activation scale
;;   84        f32 sum of the group's real x (unquantized; asymmetric mins)
;;   [88, 96)  zero
;;
;; All kernels share one signature so the thread runner can call any of them the same way:
;;   (gpr w s m x out outStride n nb acc r0 r1)
;;   gpr        groups per weight row (ceil(cols / 32))
;;   w, s, m    packed codes, f16 scales, f16 mins (0: none, symmetric); row r's groups start at group
;;              r * gpr; a scale is u16 number (group index) of its half-pair array (little-endian)
;;   x          prepared activations (above)
;;   out        y[i * outStride + r] for weight rows r in [r0, r1)
;;   n, nb      activation rows, and how many of them share one pass over the weights (the *_mat
;;              kernels; nb * gpr * 96 bytes of x stay in cache while the weights stream by)
;;   acc        accumulators, one region per thread, 16-byte aligned: *_mat: nb * 16 bytes of vector
;;              ones then nb * 4 of scalar ones; *_vec: 4 * 16 bytes, then 4 * 4 (80 bytes)
;; The *_vec kernels ignore outStride, n and nb.
;; Addresses are unsigned i32, so one memory may use the whole 4 GiB of wasm32.
;;
;; How the decode kernels (*_vec) are laid out, and why (V8 11, measured on the 2-core AMD EPYC):
;; - Four weight rows per pass share each group's activation loads. They are r, r + h, r + 2h, r + 3h
;;   for a quarter h of the row range, so each of the four streams of codes (and of scales) is
;;   contiguous in memory from one pass to the next, which the hardware prefetchers follow; with
;;   adjacent rows every stream would jump over the others' rows at each pass (measured with two rows
;;   per pass: 10-30% slower from DRAM). A stream past the range repeats row r (computed twice,
;;   stored twice, same value).
;; - Two groups per loop iteration (the second one skipped past the last group when gpr is odd).
;; - The row accumulators live in memory (acc), read and written once per group. TurboFan schedules all
;;   the loads of a loop iteration ahead of the arithmetic, and with sixteen xmm registers a body of
;;   several groups then spills; a store per group keeps each group's loads after the previous group's
;;   work. Accumulators held in locals were spilled to the stack anyway (no faster).
;; - Constants are held in locals set before the loops, so that they are materialized once.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; The table: f16 bits -> f32 for all 65536 patterns. Normal numbers rebias the exponent
  ;; (15 -> 127); subnormals are mant * 2^-24 exactly; exponent 31 keeps inf/NaN (payload shifted
  ;; like the rest).
  (func (export "init")
    (local $h i32) (local $e i32) (local $mant i32) (local $sign i32) (local $bits i32)
    (loop $each
      (local.set $sign (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16)))
      (local.set $e (i32.and (i32.shr_u (local.get $h) (i32.const 10)) (i32.const 31)))
      (local.set $mant (i32.and (local.get $h) (i32.const 1023)))
      (if (i32.eqz (local.get $e))
        (then
          (local.set $bits
            (i32.or (local.get $sign)
              (i32.reinterpret_f32
                (f32.mul (f32.convert_i32_u (local.get $mant)) (f32.const 0x1p-24))))))
        (else
          (if (i32.eq (local.get $e) (i32.const 31))
            (then
              (local.set $bits
                (i32.or (i32.or (local.get $sign) (i32.const 0x7f800000))
                  (i32.shl (local.get $mant) (i32.const 13)))))
            (else
              (local.set $bits
                (i32.or (i32.or (local.get $sign)
                    (i32.shl (i32.add (local.get $e) (i32.const 112)) (i32.const 23)))
                  (i32.shl (local.get $mant) (i32.const 13))))))))
      (i32.store (i32.shl (local.get $h) (i32.const 2)) (local.get $bits))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $h) (i32.const 65536)))))

  ;; src: n rows of cols float32 -> dst: n * gpr prepared groups of 96 bytes (see the top).
  ;; Per group: the largest |x| gives sx = absmax / 32767 and xq = round-half-even(x * inv), with
  ;; inv = 32767 / absmax in float32: |x * inv| <= 32767 * (1 + 2^-24)^2 < 32767.5, so |xq| <= 32767.
  ;; An all-zero group gets sx = 0 and xq = 0. A non-finite x makes sx inf or NaN (and the xq of the
  ;; group 0: x * 0 is NaN for an infinite x, which the saturating conversion turns into 0), so the
  ;; outputs it touches come out NaN, as a float matmul's would be non-finite.
  ;; Whole groups take the SIMD path ($prep_group); a row's partial last group the scalar one
  ;; ($prep_tail), with the same float32 arithmetic for xq.
  (func (export "prep_x")
    (param $src i32) (param $n i32) (param $cols i32) (param $gpr i32) (param $q8 i32) (param $dst i32)
    (local $i i32) (local $g i32) (local $row i32) (local $out i32)
    (if (i32.or (i32.eqz (local.get $n)) (i32.eqz (local.get $gpr))) (then (return)))
    (loop $rows
      (local.set $row (i32.add (local.get $src) (i32.shl (i32.mul (local.get $i) (local.get $cols)) (i32.const 2))))
      (local.set $out (i32.add (local.get $dst) (i32.mul (i32.mul (local.get $i) (local.get $gpr)) (i32.const 96))))
      (local.set $g (i32.const 0))
      (loop $groups
        (if (i32.le_u (i32.shl (i32.add (local.get $g) (i32.const 1)) (i32.const 5)) (local.get $cols))
          (then (call $prep_group
            (i32.add (local.get $row) (i32.shl (local.get $g) (i32.const 7))) (local.get $q8) (local.get $out)))
          (else (call $prep_tail
            (i32.add (local.get $row) (i32.shl (local.get $g) (i32.const 7)))
            (i32.sub (local.get $cols) (i32.shl (local.get $g) (i32.const 5))) (local.get $q8) (local.get $out))))
        (local.set $out (i32.add (local.get $out) (i32.const 96)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $i) (local.get $n)))))

  ;; One whole group of 32 activations at $p -> the 96-byte record at $out.
  ;; a_j holds elements 4j .. 4j+3. Q4 lane order wants field f of u16 lane l = element 4l + f, that is
  ;; lane f of a_l: a transpose, done on the int16 values (narrow pairs, then two rounds of shuffles).
  (func $prep_group (param $p i32) (param $q8 i32) (param $out i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $v v128) (local $inv v128) (local $amax f32)
    (local $n0 v128) (local $n1 v128) (local $n2 v128) (local $n3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $a0 (v128.load offset=0 (local.get $p)))
    (local.set $a1 (v128.load offset=16 (local.get $p)))
    (local.set $a2 (v128.load offset=32 (local.get $p)))
    (local.set $a3 (v128.load offset=48 (local.get $p)))
    (local.set $a4 (v128.load offset=64 (local.get $p)))
    (local.set $a5 (v128.load offset=80 (local.get $p)))
    (local.set $a6 (v128.load offset=96 (local.get $p)))
    (local.set $a7 (v128.load offset=112 (local.get $p)))
    ;; the sum of x (for mins), in float32: a tree of adds, then the four lanes
    (local.set $v (f32x4.add
      (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (f32x4.add (local.get $a2) (local.get $a3)))
      (f32x4.add (f32x4.add (local.get $a4) (local.get $a5)) (f32x4.add (local.get $a6) (local.get $a7)))))
    (f32.store offset=84 (local.get $out)
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
        (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
    ;; absmax (f32x4.max propagates NaN)
    (local.set $v (f32x4.max
      (f32x4.max (f32x4.max (f32x4.abs (local.get $a0)) (f32x4.abs (local.get $a1)))
                 (f32x4.max (f32x4.abs (local.get $a2)) (f32x4.abs (local.get $a3))))
      (f32x4.max (f32x4.max (f32x4.abs (local.get $a4)) (f32x4.abs (local.get $a5)))
                 (f32x4.max (f32x4.abs (local.get $a6)) (f32x4.abs (local.get $a7))))))
    (local.set $amax (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.max (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
    (f32.store offset=80 (local.get $out)
      (f32.demote_f64 (f64.div (f64.promote_f32 (local.get $amax)) (f64.const 32767))))
    (i64.store offset=88 (local.get $out) (i64.const 0))
    ;; 0 for a zero group (and for inf/NaN, whose sx above carries the non-finite value)
    (local.set $inv (f32x4.splat
      (select (f32.div (f32.const 32767) (local.get $amax)) (f32.const 0) (f32.gt (local.get $amax) (f32.const 0)))))
    (local.set $a0 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a0) (local.get $inv)))))
    (local.set $a1 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a1) (local.get $inv)))))
    (local.set $a2 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a2) (local.get $inv)))))
    (local.set $a3 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a3) (local.get $inv)))))
    (local.set $a4 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a4) (local.get $inv)))))
    (local.set $a5 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a5) (local.get $inv)))))
    (local.set $a6 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a6) (local.get $inv)))))
    (local.set $a7 (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $a7) (local.get $inv)))))
    ;; int16, elements in order: n_k = elements 8k .. 8k+7 (exact: |xq| <= 32767)
    (local.set $n0 (i16x8.narrow_i32x4_s (local.get $a0) (local.get $a1)))
    (local.set $n1 (i16x8.narrow_i32x4_s (local.get $a2) (local.get $a3)))
    (local.set $n2 (i16x8.narrow_i32x4_s (local.get $a4) (local.get $a5)))
    (local.set $n3 (i16x8.narrow_i32x4_s (local.get $a6) (local.get $a7)))
    (if (local.get $q8)
      (then
        ;; Q8: natural order, no offset
        (v128.store offset=0 (local.get $out) (local.get $n0))
        (v128.store offset=16 (local.get $out) (local.get $n1))
        (v128.store offset=32 (local.get $out) (local.get $n2))
        (v128.store offset=48 (local.get $out) (local.get $n3))
        (v128.store offset=64 (local.get $out) (v128.const i32x4 0 0 0 0))
        (return)))
    ;; Q4: t0 = fields 0 and 1 of lanes 0..3 (elements 0, 4, 8, 12 then 1, 5, 9, 13), t1 = fields 2, 3;
    ;; t2, t3 the same for lanes 4..7; then field f = the matching halves of t0/t2 or t1/t3.
    (local.set $t0 (i8x16.shuffle 0 1 8 9 16 17 24 25 2 3 10 11 18 19 26 27 (local.get $n0) (local.get $n1)))
    (local.set $t1 (i8x16.shuffle 4 5 12 13 20 21 28 29 6 7 14 15 22 23 30 31 (local.get $n0) (local.get $n1)))
    (local.set $t2 (i8x16.shuffle 0 1 8 9 16 17 24 25 2 3 10 11 18 19 26 27 (local.get $n2) (local.get $n3)))
    (local.set $t3 (i8x16.shuffle 4 5 12 13 20 21 28 29 6 7 14 15 22 23 30 31 (local.get $n2) (local.get $n3)))
    (v128.store offset=0 (local.get $out)
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
    (v128.store offset=16 (local.get $out)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
    (v128.store offset=32 (local.get $out)
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
    (v128.store offset=48 (local.get $out)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
    ;; offset corrections: lane j = -8 * (sum of elements 8j .. 8j+7) = -8 * (all lanes of a_2j + a_2j+1),
    ;; summed across lanes by a 4x4 transpose (unpack 32-bit, then 64-bit halves)
    (local.set $t0 (i32x4.add (local.get $a0) (local.get $a1)))
    (local.set $t1 (i32x4.add (local.get $a2) (local.get $a3)))
    (local.set $t2 (i32x4.add (local.get $a4) (local.get $a5)))
    (local.set $t3 (i32x4.add (local.get $a6) (local.get $a7)))
    (local.set $t0 (i32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $t0) (local.get $t1))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $t0) (local.get $t1))))
    (local.set $t2 (i32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $t2) (local.get $t3))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $t2) (local.get $t3))))
    (v128.store offset=64 (local.get $out)
      (i32x4.mul (v128.const i32x4 -8 -8 -8 -8)
        (i32x4.add
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2))))))

  ;; The last group of a row when cols is not a multiple of 32: $len (1..31) real elements at $p, zero
  ;; activations after them. Element by element, with $prep_group's arithmetic.
  (func $prep_tail (param $p i32) (param $len i32) (param $q8 i32) (param $out i32)
    (local $e i32) (local $v f32) (local $amax f32) (local $sum f64) (local $inv f32) (local $q i32)
    (local $slot i32) (local $word i32)
    (local.set $sum (f64.const 0))
    (loop $scan
      (local.set $v (f32.load (i32.add (local.get $p) (i32.shl (local.get $e) (i32.const 2)))))
      (local.set $amax (f32.max (local.get $amax) (f32.abs (local.get $v))))
      (local.set $sum (f64.add (local.get $sum) (f64.promote_f32 (local.get $v))))
      (local.set $e (i32.add (local.get $e) (i32.const 1)))
      (br_if $scan (i32.lt_u (local.get $e) (local.get $len))))
    (local.set $inv (select (f32.div (f32.const 32767) (local.get $amax)) (f32.const 0) (f32.gt (local.get $amax) (f32.const 0))))
    (v128.store offset=0 (local.get $out) (v128.const i32x4 0 0 0 0))
    (v128.store offset=16 (local.get $out) (v128.const i32x4 0 0 0 0))
    (v128.store offset=32 (local.get $out) (v128.const i32x4 0 0 0 0))
    (v128.store offset=48 (local.get $out) (v128.const i32x4 0 0 0 0))
    (v128.store offset=64 (local.get $out) (v128.const i32x4 0 0 0 0))
    (local.set $e (i32.const 0))
    (loop $quant
      (local.set $q (i32.trunc_sat_f32_s (f32.nearest (f32.mul
        (f32.load (i32.add (local.get $p) (i32.shl (local.get $e) (i32.const 2)))) (local.get $inv)))))
      (local.set $slot (select (local.get $e)
        (i32.or (i32.shl (i32.and (local.get $e) (i32.const 3)) (i32.const 3)) (i32.shr_u (local.get $e) (i32.const 2)))
        (local.get $q8)))
      (i32.store16 (i32.add (local.get $out) (i32.shl (local.get $slot) (i32.const 1))) (local.get $q))
      ;; Q4 offset correction of code word e >> 3
      (if (i32.eqz (local.get $q8))
        (then
          (local.set $word (i32.add (local.get $out) (i32.shl (i32.shr_u (local.get $e) (i32.const 3)) (i32.const 2))))
          (i32.store offset=64 (local.get $word)
            (i32.sub (i32.load offset=64 (local.get $word)) (i32.shl (local.get $q) (i32.const 3))))))
      (local.set $e (i32.add (local.get $e) (i32.const 1)))
      (br_if $quant (i32.lt_u (local.get $e) (local.get $len))))
    (f32.store offset=80 (local.get $out)
      (f32.demote_f64 (f64.div (f64.promote_f32 (local.get $amax)) (f64.const 32767))))
    (f32.store offset=84 (local.get $out) (f32.demote_f64 (local.get $sum)))
    (i64.store offset=88 (local.get $out) (i64.const 0)))

  ;; ---- symmetric Q4, one activation row (decode) ----
  ;; Per group and weight row: one 16-byte load of codes, four fields (shift, mask), four pmaddwd
  ;; against the prepared activations, the offset correction, one conversion, one multiply by
  ;; (scale * sx) and an add into the row's f32x4 accumulator.
  (func (export "q4_vec")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32) (param $x i32)
    (param $out i32) (param $outStride i32) (param $n i32) (param $nb i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $rend i32) (local $h1 i32) (local $h2 i32) (local $h3 i32)
    (local $r0_ i32) (local $r1_ i32) (local $r2_ i32) (local $r3_ i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32)
    (local $xp i32) (local $xend i32)
    (local $mask v128) (local $v v128) (local $c v128) (local $sx v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (local.set $mask (v128.const i16x8 15 15 15 15 15 15 15 15))
    (local.set $xend (i32.add (local.get $x) (i32.mul (local.get $gpr) (i32.const 96))))
    ;; rows [r0, r1) as four contiguous streams of h rows each: r, r + h, r + 2h, r + 3h
    (local.set $h1 (i32.shr_u (i32.add (i32.sub (local.get $r1) (local.get $r0)) (i32.const 3)) (i32.const 2)))
    (local.set $h2 (i32.shl (local.get $h1) (i32.const 1)))
    (local.set $h3 (i32.add (local.get $h2) (local.get $h1)))
    (local.set $rend (i32.add (local.get $r0) (local.get $h1)))
    (local.set $r (local.get $r0))
    (loop $rows
      ;; a stream past r1 (the last pass when r1 - r0 is not a multiple of 4) repeats row r
      (local.set $r0_ (local.get $r))
      (local.set $r1_ (select (i32.add (local.get $r) (local.get $h1)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h1)) (local.get $r1))))
      (local.set $r2_ (select (i32.add (local.get $r) (local.get $h2)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h2)) (local.get $r1))))
      (local.set $r3_ (select (i32.add (local.get $r) (local.get $h3)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h3)) (local.get $r1))))
      (local.set $p0 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r0_) (local.get $gpr)) (i32.const 4))))
      (local.set $s0 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r0_) (local.get $gpr)) (i32.const 1))))
      (local.set $p1 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r1_) (local.get $gpr)) (i32.const 4))))
      (local.set $s1 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r1_) (local.get $gpr)) (i32.const 1))))
      (local.set $p2 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r2_) (local.get $gpr)) (i32.const 4))))
      (local.set $s2 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r2_) (local.get $gpr)) (i32.const 1))))
      (local.set $p3 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r3_) (local.get $gpr)) (i32.const 4))))
      (local.set $s3 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r3_) (local.get $gpr)) (i32.const 1))))
      (v128.store offset=0 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=16 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=32 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=48 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (local.set $xp (local.get $x))
      (block $done
        (loop $groups
          ;; group g + 0
          (local.set $x0 (v128.load offset=0 (local.get $xp)))
          (local.set $x1 (v128.load offset=16 (local.get $xp)))
          (local.set $x2 (v128.load offset=32 (local.get $xp)))
          (local.set $x3 (v128.load offset=48 (local.get $xp)))
          (local.set $c (v128.load offset=64 (local.get $xp)))
          (local.set $sx (v128.load32_splat offset=80 (local.get $xp)))
          (local.set $v (v128.load offset=0 (local.get $p0)))
          (v128.store offset=0 (local.get $acc)
            (f32x4.add (v128.load offset=0 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s0)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=0 (local.get $p1)))
          (v128.store offset=16 (local.get $acc)
            (f32x4.add (v128.load offset=16 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s1)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=0 (local.get $p2)))
          (v128.store offset=32 (local.get $acc)
            (f32x4.add (v128.load offset=32 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s2)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=0 (local.get $p3)))
          (v128.store offset=48 (local.get $acc)
            (f32x4.add (v128.load offset=48 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s3)) (i32.const 2))) (local.get $sx)))))
          (br_if $done (i32.ge_u (i32.add (local.get $xp) (i32.const 96)) (local.get $xend)))
          ;; group g + 1
          (local.set $x0 (v128.load offset=96 (local.get $xp)))
          (local.set $x1 (v128.load offset=112 (local.get $xp)))
          (local.set $x2 (v128.load offset=128 (local.get $xp)))
          (local.set $x3 (v128.load offset=144 (local.get $xp)))
          (local.set $c (v128.load offset=160 (local.get $xp)))
          (local.set $sx (v128.load32_splat offset=176 (local.get $xp)))
          (local.set $v (v128.load offset=16 (local.get $p0)))
          (v128.store offset=0 (local.get $acc)
            (f32x4.add (v128.load offset=0 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s0)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=16 (local.get $p1)))
          (v128.store offset=16 (local.get $acc)
            (f32x4.add (v128.load offset=16 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s1)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=16 (local.get $p2)))
          (v128.store offset=32 (local.get $acc)
            (f32x4.add (v128.load offset=32 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s2)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=16 (local.get $p3)))
          (v128.store offset=48 (local.get $acc)
            (f32x4.add (v128.load offset=48 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add (local.get $c)
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3))))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s3)) (i32.const 2))) (local.get $sx)))))
          (local.set $p0 (i32.add (local.get $p0) (i32.const 32)))
          (local.set $s0 (i32.add (local.get $s0) (i32.const 4)))
          (local.set $p1 (i32.add (local.get $p1) (i32.const 32)))
          (local.set $s1 (i32.add (local.get $s1) (i32.const 4)))
          (local.set $p2 (i32.add (local.get $p2) (i32.const 32)))
          (local.set $s2 (i32.add (local.get $s2) (i32.const 4)))
          (local.set $p3 (i32.add (local.get $p3) (i32.const 32)))
          (local.set $s3 (i32.add (local.get $s3) (i32.const 4)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 192)))
        (br_if $groups (i32.lt_u (local.get $xp) (local.get $xend)))))
      (local.set $v (v128.load offset=0 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r0_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $v (v128.load offset=16 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r1_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $v (v128.load offset=32 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r2_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $v (v128.load offset=48 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r3_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $r) (local.get $rend)))))

  ;; ---- asymmetric Q4 (mins), one activation row ----
  ;; q4_vec with the codes as they are (value = c * scale + min: no offset correction), plus
  ;; min * sum(x) per group into a scalar accumulator per row (at acc + 64 + 4i). A kernel of its own
  ;; so that q4_vec's loop carries no branch on mins.
  (func (export "q4m_vec")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32) (param $x i32)
    (param $out i32) (param $outStride i32) (param $n i32) (param $nb i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $rend i32) (local $h1 i32) (local $h2 i32) (local $h3 i32)
    (local $r0_ i32) (local $r1_ i32) (local $r2_ i32) (local $r3_ i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32)
    (local $xp i32) (local $xend i32) (local $dm i32) (local $xs f32)
    (local $mask v128) (local $v v128) (local $sx v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (local.set $mask (v128.const i16x8 15 15 15 15 15 15 15 15))
    (local.set $dm (i32.sub (local.get $m) (local.get $s)))
    (local.set $xend (i32.add (local.get $x) (i32.mul (local.get $gpr) (i32.const 96))))
    ;; rows [r0, r1) as four contiguous streams of h rows each: r, r + h, r + 2h, r + 3h
    (local.set $h1 (i32.shr_u (i32.add (i32.sub (local.get $r1) (local.get $r0)) (i32.const 3)) (i32.const 2)))
    (local.set $h2 (i32.shl (local.get $h1) (i32.const 1)))
    (local.set $h3 (i32.add (local.get $h2) (local.get $h1)))
    (local.set $rend (i32.add (local.get $r0) (local.get $h1)))
    (local.set $r (local.get $r0))
    (loop $rows
      ;; a stream past r1 (the last pass when r1 - r0 is not a multiple of 4) repeats row r
      (local.set $r0_ (local.get $r))
      (local.set $r1_ (select (i32.add (local.get $r) (local.get $h1)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h1)) (local.get $r1))))
      (local.set $r2_ (select (i32.add (local.get $r) (local.get $h2)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h2)) (local.get $r1))))
      (local.set $r3_ (select (i32.add (local.get $r) (local.get $h3)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h3)) (local.get $r1))))
      (local.set $p0 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r0_) (local.get $gpr)) (i32.const 4))))
      (local.set $s0 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r0_) (local.get $gpr)) (i32.const 1))))
      (local.set $p1 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r1_) (local.get $gpr)) (i32.const 4))))
      (local.set $s1 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r1_) (local.get $gpr)) (i32.const 1))))
      (local.set $p2 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r2_) (local.get $gpr)) (i32.const 4))))
      (local.set $s2 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r2_) (local.get $gpr)) (i32.const 1))))
      (local.set $p3 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r3_) (local.get $gpr)) (i32.const 4))))
      (local.set $s3 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r3_) (local.get $gpr)) (i32.const 1))))
      (v128.store offset=0 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=16 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=32 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=48 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=64 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (local.set $xp (local.get $x))
      (block $done
        (loop $groups
          ;; group g + 0
          (local.set $x0 (v128.load offset=0 (local.get $xp)))
          (local.set $x1 (v128.load offset=16 (local.get $xp)))
          (local.set $x2 (v128.load offset=32 (local.get $xp)))
          (local.set $x3 (v128.load offset=48 (local.get $xp)))
          (local.set $sx (v128.load32_splat offset=80 (local.get $xp)))
          (local.set $xs (f32.load offset=84 (local.get $xp)))
          (local.set $v (v128.load offset=0 (local.get $p0)))
          (v128.store offset=0 (local.get $acc)
            (f32x4.add (v128.load offset=0 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s0)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=64 (local.get $acc)
            (f32.add (f32.load offset=64 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=0 (i32.add (local.get $s0) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (local.set $v (v128.load offset=0 (local.get $p1)))
          (v128.store offset=16 (local.get $acc)
            (f32x4.add (v128.load offset=16 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s1)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=68 (local.get $acc)
            (f32.add (f32.load offset=68 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=0 (i32.add (local.get $s1) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (local.set $v (v128.load offset=0 (local.get $p2)))
          (v128.store offset=32 (local.get $acc)
            (f32x4.add (v128.load offset=32 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s2)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=72 (local.get $acc)
            (f32.add (f32.load offset=72 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=0 (i32.add (local.get $s2) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (local.set $v (v128.load offset=0 (local.get $p3)))
          (v128.store offset=48 (local.get $acc)
            (f32x4.add (v128.load offset=48 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s3)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=76 (local.get $acc)
            (f32.add (f32.load offset=76 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=0 (i32.add (local.get $s3) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (br_if $done (i32.ge_u (i32.add (local.get $xp) (i32.const 96)) (local.get $xend)))
          ;; group g + 1
          (local.set $x0 (v128.load offset=96 (local.get $xp)))
          (local.set $x1 (v128.load offset=112 (local.get $xp)))
          (local.set $x2 (v128.load offset=128 (local.get $xp)))
          (local.set $x3 (v128.load offset=144 (local.get $xp)))
          (local.set $sx (v128.load32_splat offset=176 (local.get $xp)))
          (local.set $xs (f32.load offset=180 (local.get $xp)))
          (local.set $v (v128.load offset=16 (local.get $p0)))
          (v128.store offset=0 (local.get $acc)
            (f32x4.add (v128.load offset=0 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s0)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=64 (local.get $acc)
            (f32.add (f32.load offset=64 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=2 (i32.add (local.get $s0) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (local.set $v (v128.load offset=16 (local.get $p1)))
          (v128.store offset=16 (local.get $acc)
            (f32x4.add (v128.load offset=16 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s1)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=68 (local.get $acc)
            (f32.add (f32.load offset=68 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=2 (i32.add (local.get $s1) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (local.set $v (v128.load offset=16 (local.get $p2)))
          (v128.store offset=32 (local.get $acc)
            (f32x4.add (v128.load offset=32 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s2)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=72 (local.get $acc)
            (f32.add (f32.load offset=72 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=2 (i32.add (local.get $s2) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (local.set $v (v128.load offset=16 (local.get $p3)))
          (v128.store offset=48 (local.get $acc)
            (f32x4.add (v128.load offset=48 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (local.get $v) (local.get $mask)) (local.get $x0))
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s3)) (i32.const 2))) (local.get $sx)))))
          (f32.store offset=76 (local.get $acc)
            (f32.add (f32.load offset=76 (local.get $acc))
              (f32.mul (f32.load (i32.shl (i32.load16_u offset=2 (i32.add (local.get $s3) (local.get $dm))) (i32.const 2))) (local.get $xs))))
          (local.set $p0 (i32.add (local.get $p0) (i32.const 32)))
          (local.set $s0 (i32.add (local.get $s0) (i32.const 4)))
          (local.set $p1 (i32.add (local.get $p1) (i32.const 32)))
          (local.set $s1 (i32.add (local.get $s1) (i32.const 4)))
          (local.set $p2 (i32.add (local.get $p2) (i32.const 32)))
          (local.set $s2 (i32.add (local.get $s2) (i32.const 4)))
          (local.set $p3 (i32.add (local.get $p3) (i32.const 32)))
          (local.set $s3 (i32.add (local.get $s3) (i32.const 4)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 192)))
        (br_if $groups (i32.lt_u (local.get $xp) (local.get $xend)))))
      (local.set $v (v128.load offset=0 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r0_) (i32.const 2)))
        (f32.add
          (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))
          (f32.load offset=64 (local.get $acc))))
      (local.set $v (v128.load offset=16 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r1_) (i32.const 2)))
        (f32.add
          (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))
          (f32.load offset=68 (local.get $acc))))
      (local.set $v (v128.load offset=32 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r2_) (i32.const 2)))
        (f32.add
          (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))
          (f32.load offset=72 (local.get $acc))))
      (local.set $v (v128.load offset=48 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r3_) (i32.const 2)))
        (f32.add
          (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))
          (f32.load offset=76 (local.get $acc))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $r) (local.get $rend)))))

  ;; ---- Q8, one activation row (decode) ----
  ;; Per group and weight row: two 16-byte loads of codes, each half sign-extended to int16, four
  ;; pmaddwd, one conversion, one multiply by (scale * sx) and an add into the row's accumulator.
  (func (export "q8_vec")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32) (param $x i32)
    (param $out i32) (param $outStride i32) (param $n i32) (param $nb i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $rend i32) (local $h1 i32) (local $h2 i32) (local $h3 i32)
    (local $r0_ i32) (local $r1_ i32) (local $r2_ i32) (local $r3_ i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32)
    (local $xp i32) (local $xend i32)
    (local $mask v128) (local $v v128) (local $u v128) (local $sx v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (local.set $xend (i32.add (local.get $x) (i32.mul (local.get $gpr) (i32.const 96))))
    ;; rows [r0, r1) as four contiguous streams of h rows each: r, r + h, r + 2h, r + 3h
    (local.set $h1 (i32.shr_u (i32.add (i32.sub (local.get $r1) (local.get $r0)) (i32.const 3)) (i32.const 2)))
    (local.set $h2 (i32.shl (local.get $h1) (i32.const 1)))
    (local.set $h3 (i32.add (local.get $h2) (local.get $h1)))
    (local.set $rend (i32.add (local.get $r0) (local.get $h1)))
    (local.set $r (local.get $r0))
    (loop $rows
      ;; a stream past r1 (the last pass when r1 - r0 is not a multiple of 4) repeats row r
      (local.set $r0_ (local.get $r))
      (local.set $r1_ (select (i32.add (local.get $r) (local.get $h1)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h1)) (local.get $r1))))
      (local.set $r2_ (select (i32.add (local.get $r) (local.get $h2)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h2)) (local.get $r1))))
      (local.set $r3_ (select (i32.add (local.get $r) (local.get $h3)) (local.get $r)
        (i32.lt_u (i32.add (local.get $r) (local.get $h3)) (local.get $r1))))
      (local.set $p0 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r0_) (local.get $gpr)) (i32.const 5))))
      (local.set $s0 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r0_) (local.get $gpr)) (i32.const 1))))
      (local.set $p1 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r1_) (local.get $gpr)) (i32.const 5))))
      (local.set $s1 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r1_) (local.get $gpr)) (i32.const 1))))
      (local.set $p2 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r2_) (local.get $gpr)) (i32.const 5))))
      (local.set $s2 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r2_) (local.get $gpr)) (i32.const 1))))
      (local.set $p3 (i32.add (local.get $w) (i32.shl (i32.mul (local.get $r3_) (local.get $gpr)) (i32.const 5))))
      (local.set $s3 (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r3_) (local.get $gpr)) (i32.const 1))))
      (v128.store offset=0 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=16 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=32 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (v128.store offset=48 (local.get $acc) (v128.const i32x4 0 0 0 0))
      (local.set $xp (local.get $x))
      (block $done
        (loop $groups
          ;; group g + 0
          (local.set $x0 (v128.load offset=0 (local.get $xp)))
          (local.set $x1 (v128.load offset=16 (local.get $xp)))
          (local.set $x2 (v128.load offset=32 (local.get $xp)))
          (local.set $x3 (v128.load offset=48 (local.get $xp)))
          (local.set $sx (v128.load32_splat offset=80 (local.get $xp)))
          (local.set $v (v128.load offset=0 (local.get $p0)))
          (local.set $u (v128.load offset=16 (local.get $p0)))
          (v128.store offset=0 (local.get $acc)
            (f32x4.add (v128.load offset=0 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s0)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=0 (local.get $p1)))
          (local.set $u (v128.load offset=16 (local.get $p1)))
          (v128.store offset=16 (local.get $acc)
            (f32x4.add (v128.load offset=16 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s1)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=0 (local.get $p2)))
          (local.set $u (v128.load offset=16 (local.get $p2)))
          (v128.store offset=32 (local.get $acc)
            (f32x4.add (v128.load offset=32 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s2)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=0 (local.get $p3)))
          (local.set $u (v128.load offset=16 (local.get $p3)))
          (v128.store offset=48 (local.get $acc)
            (f32x4.add (v128.load offset=48 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=0 (local.get $s3)) (i32.const 2))) (local.get $sx)))))
          (br_if $done (i32.ge_u (i32.add (local.get $xp) (i32.const 96)) (local.get $xend)))
          ;; group g + 1
          (local.set $x0 (v128.load offset=96 (local.get $xp)))
          (local.set $x1 (v128.load offset=112 (local.get $xp)))
          (local.set $x2 (v128.load offset=128 (local.get $xp)))
          (local.set $x3 (v128.load offset=144 (local.get $xp)))
          (local.set $sx (v128.load32_splat offset=176 (local.get $xp)))
          (local.set $v (v128.load offset=32 (local.get $p0)))
          (local.set $u (v128.load offset=48 (local.get $p0)))
          (v128.store offset=0 (local.get $acc)
            (f32x4.add (v128.load offset=0 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s0)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=32 (local.get $p1)))
          (local.set $u (v128.load offset=48 (local.get $p1)))
          (v128.store offset=16 (local.get $acc)
            (f32x4.add (v128.load offset=16 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s1)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=32 (local.get $p2)))
          (local.set $u (v128.load offset=48 (local.get $p2)))
          (v128.store offset=32 (local.get $acc)
            (f32x4.add (v128.load offset=32 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s2)) (i32.const 2))) (local.get $sx)))))
          (local.set $v (v128.load offset=32 (local.get $p3)))
          (local.set $u (v128.load offset=48 (local.get $p3)))
          (v128.store offset=48 (local.get $acc)
            (f32x4.add (v128.load offset=48 (local.get $acc))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (i32x4.add
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $x0))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $x1)))
                    (i32x4.add
                      (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $u)) (local.get $x2))
                      (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $u)) (local.get $x3)))))
                (f32x4.mul (v128.load32_splat (i32.shl (i32.load16_u offset=2 (local.get $s3)) (i32.const 2))) (local.get $sx)))))
          (local.set $p0 (i32.add (local.get $p0) (i32.const 64)))
          (local.set $s0 (i32.add (local.get $s0) (i32.const 4)))
          (local.set $p1 (i32.add (local.get $p1) (i32.const 64)))
          (local.set $s1 (i32.add (local.get $s1) (i32.const 4)))
          (local.set $p2 (i32.add (local.get $p2) (i32.const 64)))
          (local.set $s2 (i32.add (local.get $s2) (i32.const 4)))
          (local.set $p3 (i32.add (local.get $p3) (i32.const 64)))
          (local.set $s3 (i32.add (local.get $s3) (i32.const 4)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 192)))
        (br_if $groups (i32.lt_u (local.get $xp) (local.get $xend)))))
      (local.set $v (v128.load offset=0 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r0_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $v (v128.load offset=16 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r1_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $v (v128.load offset=32 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r2_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $v (v128.load offset=48 (local.get $acc)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r3_) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
          (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $r) (local.get $rend)))))

  ;; ---- several activation rows (prefill): symmetric Q4, asymmetric Q4, Q8 ----
  ;; For each weight row and group, the codes are decoded once into four i16x8 (Q4: c - 8, or c with
  ;; mins; Q8: sign-extended) and used against up to nb activation rows (a tile) whose accumulators
  ;; live in the acc region: f32x4 at acc + 16k, and for mins an f32 at acc + 16 nb + 4k. The integer
  ;; dot product, the conversion and the float steps are those of the *_vec kernels, in the same
  ;; order, so the results are bit for bit the same.
  ;; $kind: 0 symmetric Q4, 1 asymmetric Q4, 2 Q8, a constant at each call site below (the three
  ;; exports are thin wrappers). The branches on it are taken per group and per activation row, next
  ;; to four pmaddwd and the float steps of that row, rather than per product: one body for the three
  ;; formats instead of three copies of it.
  (func $mat
    (param $kind i32)
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32) (param $x i32)
    (param $out i32) (param $outStride i32) (param $n i32) (param $nb i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32)
    (local $i0 i32) (local $cnt i32) (local $i i32) (local $k i32) (local $r i32) (local $g i32)
    (local $gi i32) (local $p i32) (local $xp i32) (local $ap i32) (local $mp i32) (local $xstride i32)
    (local $sw f32) (local $mv f32) (local $v v128) (local $u v128)
    (local $mask v128) (local $eight v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $mask (v128.const i16x8 15 15 15 15 15 15 15 15))
    ;; symmetric Q4 subtracts the offset; with mins the codes stay as they are
    (local.set $eight (select (v128.const i16x8 8 8 8 8 8 8 8 8) (v128.const i16x8 0 0 0 0 0 0 0 0)
      (i32.eqz (local.get $kind))))
    (local.set $xstride (i32.mul (local.get $gpr) (i32.const 96)))
    (loop $tiles
      (local.set $cnt (i32.sub (local.get $n) (local.get $i0)))
      (if (i32.gt_u (local.get $cnt) (local.get $nb)) (then (local.set $cnt (local.get $nb))))
      (local.set $r (local.get $r0))
      (loop $rows
        ;; zero this row's accumulators
        (local.set $k (i32.const 0))
        (loop $zero
          (v128.store (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 4))) (v128.const i32x4 0 0 0 0))
          (f32.store (i32.add (i32.add (local.get $acc) (i32.shl (local.get $nb) (i32.const 4)))
            (i32.shl (local.get $k) (i32.const 2))) (f32.const 0))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $zero (i32.lt_u (local.get $k) (local.get $cnt))))
        (local.set $gi (i32.mul (local.get $r) (local.get $gpr)))
        (local.set $g (i32.const 0))
        (loop $groups
          (if (i32.eq (local.get $kind) (i32.const 2))
            (then
              (local.set $p (i32.add (local.get $w) (i32.shl (local.get $gi) (i32.const 5))))
              (local.set $v (v128.load offset=0 (local.get $p)))
              (local.set $u (v128.load offset=16 (local.get $p)))
              (local.set $c0 (i16x8.extend_low_i8x16_s (local.get $v)))
              (local.set $c1 (i16x8.extend_high_i8x16_s (local.get $v)))
              (local.set $c2 (i16x8.extend_low_i8x16_s (local.get $u)))
              (local.set $c3 (i16x8.extend_high_i8x16_s (local.get $u))))
            (else
              (local.set $v (v128.load (i32.add (local.get $w) (i32.shl (local.get $gi) (i32.const 4)))))
              (local.set $c0 (i16x8.sub (v128.and (local.get $v) (local.get $mask)) (local.get $eight)))
              (local.set $c1 (i16x8.sub (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)) (local.get $eight)))
              (local.set $c2 (i16x8.sub (v128.and (i16x8.shr_u (local.get $v) (i32.const 8)) (local.get $mask)) (local.get $eight)))
              (local.set $c3 (i16x8.sub (i16x8.shr_u (local.get $v) (i32.const 12)) (local.get $eight)))))
          (local.set $sw (f32.load (i32.shl
            (i32.load16_u (i32.add (local.get $s) (i32.shl (local.get $gi) (i32.const 1))))
            (i32.const 2))))
          (local.set $mv (f32.const 0))
          (if (i32.eq (local.get $kind) (i32.const 1))
            (then
              (local.set $mv (f32.load (i32.shl
                (i32.load16_u (i32.add (local.get $m) (i32.shl (local.get $gi) (i32.const 1))))
                (i32.const 2))))))
          (local.set $xp (i32.add (local.get $x)
            (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $gpr)) (local.get $g)) (i32.const 96))))
          (local.set $ap (local.get $acc))
          (local.set $mp (i32.add (local.get $acc) (i32.shl (local.get $nb) (i32.const 4))))
          (local.set $i (i32.const 0))
          (loop $batch
            (v128.store (local.get $ap)
              (f32x4.add (v128.load (local.get $ap))
                (f32x4.mul
                  (f32x4.convert_i32x4_s
                    (i32x4.add
                      (i32x4.add
                        (i32x4.dot_i16x8_s (local.get $c0) (v128.load offset=0 (local.get $xp)))
                        (i32x4.dot_i16x8_s (local.get $c1) (v128.load offset=16 (local.get $xp))))
                      (i32x4.add
                        (i32x4.dot_i16x8_s (local.get $c2) (v128.load offset=32 (local.get $xp)))
                        (i32x4.dot_i16x8_s (local.get $c3) (v128.load offset=48 (local.get $xp))))))
                  (f32x4.splat (f32.mul (local.get $sw) (f32.load offset=80 (local.get $xp)))))))
            (if (i32.eq (local.get $kind) (i32.const 1))
              (then
                (f32.store (local.get $mp)
                  (f32.add (f32.load (local.get $mp)) (f32.mul (local.get $mv) (f32.load offset=84 (local.get $xp)))))))
            (local.set $mp (i32.add (local.get $mp) (i32.const 4)))
            (local.set $xp (i32.add (local.get $xp) (local.get $xstride)))
            (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $batch (i32.lt_u (local.get $i) (local.get $cnt))))
          (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
          (local.set $g (i32.add (local.get $g) (i32.const 1)))
          (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
        ;; y[i0 + k, r] = the four lanes (+ the min sum)
        (local.set $k (i32.const 0))
        (loop $store
          (local.set $v (v128.load (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 4)))))
          (local.set $sw
            (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v))))
          (local.set $sw
            (f32.add (local.get $sw)
              (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
          (if (i32.eq (local.get $kind) (i32.const 1))
            (then
              (local.set $sw (f32.add (local.get $sw)
                (f32.load (i32.add (i32.add (local.get $acc) (i32.shl (local.get $nb) (i32.const 4)))
                  (i32.shl (local.get $k) (i32.const 2))))))))
          (f32.store
            (i32.add (local.get $out)
              (i32.shl
                (i32.add (i32.mul (i32.add (local.get $i0) (local.get $k)) (local.get $outStride)) (local.get $r))
                (i32.const 2)))
            (local.get $sw))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $store (i32.lt_u (local.get $k) (local.get $cnt))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $r) (local.get $r1))))
      (local.set $i0 (i32.add (local.get $i0) (local.get $cnt)))
      (br_if $tiles (i32.lt_u (local.get $i0) (local.get $n)))))

  (func (export "q4_mat")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32) (param $x i32)
    (param $out i32) (param $outStride i32) (param $n i32) (param $nb i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32)
    (call $mat (i32.const 0) (local.get $gpr) (local.get $w) (local.get $s) (local.get $m) (local.get $x)
      (local.get $out) (local.get $outStride) (local.get $n) (local.get $nb) (local.get $acc)
      (local.get $r0) (local.get $r1)))

  (func (export "q4m_mat")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32) (param $x i32)
    (param $out i32) (param $outStride i32) (param $n i32) (param $nb i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32)
    (call $mat (i32.const 1) (local.get $gpr) (local.get $w) (local.get $s) (local.get $m) (local.get $x)
      (local.get $out) (local.get $outStride) (local.get $n) (local.get $nb) (local.get $acc)
      (local.get $r0) (local.get $r1)))

  (func (export "q8_mat")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32) (param $x i32)
    (param $out i32) (param $outStride i32) (param $n i32) (param $nb i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32)
    (call $mat (i32.const 2) (local.get $gpr) (local.get $w) (local.get $s) (local.get $m) (local.get $x)
      (local.get $out) (local.get $outStride) (local.get $n) (local.get $nb) (local.get $acc)
      (local.get $r0) (local.get $r1)))
)
