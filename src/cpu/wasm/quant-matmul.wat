;; WebAssembly SIMD kernels for y = x · Wᵀ over the engine's packed Q4/Q8 layout (src/quant/types.ts),
;; read in place: the weights are copied into this memory byte for byte, never repacked.
;;
;; Built by scripts/build-wasm.mjs (npm run build:wasm) into src/cpu/wasm/quant-matmul.wasm.ts, twice:
;; once as written (shared memory, for threads) and once with "shared" removed from the memory import
;; (pages that are not cross-origin isolated cannot create a shared memory).
;;
;; Memory map (byte addresses; the host, src/cpu/fast-matmul.ts, owns everything from 263168 up):
;;   [0, 262144)       f16 -> f32 table, 65536 entries. Being at address 0, the table also makes 0 an
;;                     impossible weight address, so mins = 0 means "symmetric".
;;   [262144, 263168)  vector constants (Q4 field masks and code offsets), read from memory rather
;;                     than written as v128.const: V8 hoists constants out of the loops into
;;                     registers, which then spill inside them (measured: 10-15% slower).
;;   [263168, ...)     weights (packed codes, f16 scales, f16 mins) and per-call scratch.
;; init fills the first two regions.
;;
;; How codes become floats. A 16-byte load of codes is four u32 lanes.
;;   Q8: lane k of each 16-byte half h holds elements 16h + 4k + j in its bytes j. Shifting byte j to
;;       the top and arithmetically back sign-extends it (two shifts per four codes, one for the top
;;       byte); converting gives the exact int8 as f32.
;;   Q4: word k of a group holds elements 8k..8k+7 (nibble e at bits 4e..4e+3), so field e of the four
;;       lanes holds elements e, 8+e, 16+e, 24+e. Masking field e in place (v128.and) and converting
;;       gives code * 2^4e exactly, one integer op per four codes where sign-extending shifts need
;;       two (on Intel the shifts compete with the conversions and float math for the same ports:
;;       measured 25% faster on a Xeon, as fast on an AMD EPYC); the top nibble is shifted down
;;       instead (its mask would set the sign). The activations are pre-scaled by 2^-4e to match,
;;       which is exact, so every product is the same float32 as code * x. The codes are unsigned
;;       (0..15); the offset 8 is removed:
;;       - by q4_vec/q4m_vec (decode, n = 1) without touching the codes: each prepared group carries
;;         four more floats, -8 * (sum of the x in that lane), added to the group's dot product:
;;         sum((c - 8) x) = sum(c x) - 8 sum(x). The one place where the rounding differs from
;;         matmulQuant's beyond summation order: partial sums of c x are up to twice as large.
;;       - by q4_mat/q4m_mat (prefill, n > 1) on the decoded weights, once per group (c - 8, exact),
;;         which then serve nb activation rows.
;;
;; Activations are prepared once per call by prep_x into "group-major, padded" form: row i, group g
;; occupies 36 floats (144 bytes) at x + (i * gpr + g) * 144: 32 values in the order the lanes
;; decode them (pre-scaled for Q4), then the four Q4 corrections (zero for Q8). Past cols they are
;; zero, so a partial last group needs no special case (padding codes meet zero activations;
;; asymmetric mins meet the true group sums, xsum).
;;
;; Numerics otherwise follow matmulQuant: per group a dot product of codes with activations (here in
;; four f32 lanes), multiplied once by the group's scale, added to a float32 accumulator (four lanes,
;; summed at the end of the row); asymmetric Q4 adds (min + 8 * scale) * sum(x of the group), summed
;; separately, since its codes enter as c - 8 like the symmetric form's.
;;
;; All kernels share one signature so the thread runner can call any of them the same way:
;;   (gpr w s m x xsum out outStride n nb acc r0 r1)
;;   gpr        groups per weight row (ceil(cols / 32))
;;   w, s, m    packed codes, f16 scales, f16 mins (0: none, symmetric); row r's groups start at group
;;              r * gpr; a scale is u16 number (group index) of its half-pair array (little-endian)
;;   x, xsum    prepared activations and their per-(row, group) sums
;;   out        y[i * outStride + r] for weight rows r in [r0, r1)
;;   n, nb      activation rows, and how many of them share one pass over the weights (the *_mat
;;              kernels; nb * gpr * 144 bytes of x stay in cache while the weights stream by)
;;   acc        nb * 16 bytes of vector accumulators then nb * 4 of scalar ones (the *_mat kernels;
;;              one region per thread)
;; The *_vec kernels ignore outStride, n, nb and acc.
;; Addresses are unsigned i32, so one memory may use the whole 4 GiB of wasm32.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; The table: f16 bits -> f32 for all 65536 patterns. Normal numbers rebias the exponent
  ;; (15 -> 127); subnormals are mant * 2^-24 exactly; exponent 31 keeps inf/NaN (payload shifted
  ;; like the rest). Then the constants, at the addresses the kernels load them from.
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
      (br_if $each (i32.lt_u (local.get $h) (i32.const 65536))))
    ;; 262144: Q4 field masks 0xF << 4e, e = 0..6
    (v128.store offset=262144 (i32.const 0) (v128.const i32x4 0xf 0xf 0xf 0xf))
    (v128.store offset=262160 (i32.const 0) (v128.const i32x4 0xf0 0xf0 0xf0 0xf0))
    (v128.store offset=262176 (i32.const 0) (v128.const i32x4 0xf00 0xf00 0xf00 0xf00))
    (v128.store offset=262192 (i32.const 0) (v128.const i32x4 0xf000 0xf000 0xf000 0xf000))
    (v128.store offset=262208 (i32.const 0) (v128.const i32x4 0xf0000 0xf0000 0xf0000 0xf0000))
    (v128.store offset=262224 (i32.const 0) (v128.const i32x4 0xf00000 0xf00000 0xf00000 0xf00000))
    (v128.store offset=262240 (i32.const 0) (v128.const i32x4 0xf000000 0xf000000 0xf000000 0xf000000))
    ;; 262272: Q4 code offsets in field units, 8 * 2^4e (e < 7) and 8
    (v128.store offset=262272 (i32.const 0) (v128.const f32x4 8.0 8.0 8.0 8.0))
    (v128.store offset=262288 (i32.const 0) (v128.const f32x4 128.0 128.0 128.0 128.0))
    (v128.store offset=262304 (i32.const 0) (v128.const f32x4 2048.0 2048.0 2048.0 2048.0))
    (v128.store offset=262320 (i32.const 0) (v128.const f32x4 32768.0 32768.0 32768.0 32768.0))
    (v128.store offset=262336 (i32.const 0) (v128.const f32x4 524288.0 524288.0 524288.0 524288.0))
    (v128.store offset=262352 (i32.const 0) (v128.const f32x4 8388608.0 8388608.0 8388608.0 8388608.0))
    (v128.store offset=262368 (i32.const 0) (v128.const f32x4 134217728.0 134217728.0 134217728.0 134217728.0))
    (v128.store offset=262384 (i32.const 0) (v128.const f32x4 8.0 8.0 8.0 8.0)))

  ;; src: n rows of cols float32 -> dst: n * gpr prepared groups of 36 floats (see the top), and
  ;; xsum: n * gpr floats, each group's sum over its real elements. Sums are added in double and
  ;; rounded once, like matmulQuant's.
  ;;   q4 (q8 == 0): element 8k + e -> slot 4e + k, times 2^-4e (e < 7); corrections -8 * lane sums
  ;;   q8 (q8 != 0): element 16h + 4k + j -> slot 16h + 4j + k; corrections 0
  (func (export "prep_x")
    (param $src i32) (param $n i32) (param $cols i32) (param $gpr i32) (param $q8 i32)
    (param $dst i32) (param $xsum i32)
    (local $i i32) (local $g i32) (local $e i32) (local $col i32) (local $k i32) (local $lane i32)
    (local $field i32) (local $v f32) (local $vd f64) (local $sum f64)
    (local $l0 f64) (local $l1 f64) (local $l2 f64) (local $l3 f64)
    (local $row i32) (local $out i32) (local $offset f64)
    (local.set $offset (select (f64.const 0) (f64.const -8) (local.get $q8)))
    (if (i32.eqz (i32.or (i32.eqz (local.get $n)) (i32.eqz (local.get $gpr))))
      (then
        (loop $rows
          (local.set $row (i32.add (local.get $src) (i32.shl (i32.mul (local.get $i) (local.get $cols)) (i32.const 2))))
          (local.set $g (i32.const 0))
          (loop $groups
            (local.set $sum (f64.const 0))
            (local.set $l0 (f64.const 0))
            (local.set $l1 (f64.const 0))
            (local.set $l2 (f64.const 0))
            (local.set $l3 (f64.const 0))
            (local.set $e (i32.const 0))
            (local.set $out (i32.add (local.get $dst)
              (i32.mul (i32.add (i32.mul (local.get $i) (local.get $gpr)) (local.get $g)) (i32.const 144))))
            (loop $elems
              (local.set $col (i32.add (i32.shl (local.get $g) (i32.const 5)) (local.get $e)))
              (local.set $v (f32.const 0))
              (if (i32.lt_u (local.get $col) (local.get $cols))
                (then (local.set $v (f32.load (i32.add (local.get $row) (i32.shl (local.get $col) (i32.const 2)))))))
              (local.set $vd (f64.promote_f32 (local.get $v)))
              (local.set $sum (f64.add (local.get $sum) (local.get $vd)))
              (if (local.get $q8)
                (then
                  (local.set $lane (i32.and (i32.shr_u (local.get $e) (i32.const 2)) (i32.const 3)))
                  (local.set $k (i32.or (i32.and (local.get $e) (i32.const 16))
                    (i32.or (i32.shl (i32.and (local.get $e) (i32.const 3)) (i32.const 2)) (local.get $lane))))
                  (local.set $field (i32.const 0)))
                (else
                  (local.set $lane (i32.shr_u (local.get $e) (i32.const 3)))
                  (local.set $k (i32.or (i32.shl (i32.and (local.get $e) (i32.const 7)) (i32.const 2)) (local.get $lane)))
                  (local.set $field (i32.shl (i32.and (local.get $e) (i32.const 7)) (i32.const 2)))
                  (if (i32.eq (local.get $field) (i32.const 28)) (then (local.set $field (i32.const 0))))))
              ;; v * 2^-field, exactly: the power of two is built from its exponent bits
              (f32.store (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 2)))
                (f32.mul (local.get $v)
                  (f32.reinterpret_i32 (i32.shl (i32.sub (i32.const 127) (local.get $field)) (i32.const 23)))))
              (local.set $l0 (f64.add (local.get $l0) (select (local.get $vd) (f64.const 0) (i32.eq (local.get $lane) (i32.const 0)))))
              (local.set $l1 (f64.add (local.get $l1) (select (local.get $vd) (f64.const 0) (i32.eq (local.get $lane) (i32.const 1)))))
              (local.set $l2 (f64.add (local.get $l2) (select (local.get $vd) (f64.const 0) (i32.eq (local.get $lane) (i32.const 2)))))
              (local.set $l3 (f64.add (local.get $l3) (select (local.get $vd) (f64.const 0) (i32.eq (local.get $lane) (i32.const 3)))))
              (local.set $e (i32.add (local.get $e) (i32.const 1)))
              (br_if $elems (i32.lt_u (local.get $e) (i32.const 32))))
            (f32.store offset=128 (local.get $out) (f32.demote_f64 (f64.mul (local.get $offset) (local.get $l0))))
            (f32.store offset=132 (local.get $out) (f32.demote_f64 (f64.mul (local.get $offset) (local.get $l1))))
            (f32.store offset=136 (local.get $out) (f32.demote_f64 (f64.mul (local.get $offset) (local.get $l2))))
            (f32.store offset=140 (local.get $out) (f32.demote_f64 (f64.mul (local.get $offset) (local.get $l3))))
            (f32.store
              (i32.add (local.get $xsum)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $gpr)) (local.get $g)) (i32.const 2)))
              (f32.demote_f64 (local.get $sum)))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $rows (i32.lt_u (local.get $i) (local.get $n)))))))

  ;; ---- symmetric Q4, one activation row (decode) ----
  ;; Per group: one 16-byte load, eight fields masked and converted (see the top), eight products
  ;; with the prepared activations summed as a tree (short dependency chains) plus the -8 * sum(x)
  ;; correction, then one multiply by the group's scale into the row's f32x4 accumulator.
  (func (export "q4_vec")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32)
    (param $x i32) (param $xsum i32) (param $out i32) (param $outStride i32) (param $n i32)
    (param $nb i32) (param $acc i32) (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $g i32) (local $gi i32) (local $p i32) (local $xp i32)
    (local $v v128) (local $a v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (local.set $r (local.get $r0))
    (loop $rows
      (local.set $gi (i32.mul (local.get $r) (local.get $gpr)))
      (local.set $p (i32.add (local.get $w) (i32.shl (local.get $gi) (i32.const 4))))
      (local.set $xp (local.get $x))
      (local.set $a (v128.const i32x4 0 0 0 0))
      (local.set $g (i32.const 0))
      (loop $groups
        (local.set $v (v128.load (local.get $p)))
        (local.set $a
          (f32x4.add (local.get $a)
            (f32x4.mul
              (f32x4.add (v128.load offset=128 (local.get $xp))
              (f32x4.add
                (f32x4.add
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262144 (i32.const 0))))
                      (v128.load offset=0 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262160 (i32.const 0))))
                      (v128.load offset=16 (local.get $xp))))
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262176 (i32.const 0))))
                      (v128.load offset=32 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262192 (i32.const 0))))
                      (v128.load offset=48 (local.get $xp)))))
                (f32x4.add
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262208 (i32.const 0))))
                      (v128.load offset=64 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262224 (i32.const 0))))
                      (v128.load offset=80 (local.get $xp))))
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262240 (i32.const 0))))
                      (v128.load offset=96 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_u (local.get $v) (i32.const 28)))
                      (v128.load offset=112 (local.get $xp)))))))
              (f32x4.splat (f32.load (i32.shl
                (i32.load16_u (i32.add (local.get $s) (i32.shl (local.get $gi) (i32.const 1))))
                (i32.const 2)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $xp (i32.add (local.get $xp) (i32.const 144)))
        (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
          (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $r) (local.get $r1)))))

  ;; ---- symmetric Q4, several activation rows (prefill) ----
  ;; Each group is decoded once into eight f32x4 of exact (c - 8) * 2^(field position) and used for
  ;; nb activation rows (no correction term needed), whose accumulators live in the acc region.
  (func (export "q4_mat")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32)
    (param $x i32) (param $xsum i32) (param $out i32) (param $outStride i32) (param $n i32)
    (param $nb i32) (param $acc i32) (param $r0 i32) (param $r1 i32)
    (local $i0 i32) (local $cnt i32) (local $i i32) (local $k i32) (local $r i32) (local $g i32)
    (local $gi i32) (local $p i32) (local $xp i32) (local $ap i32) (local $xstride i32)
    (local $v v128) (local $sv v128) (local $sc f32) 
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $w4 v128) (local $w5 v128) (local $w6 v128) (local $w7 v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $xstride (i32.mul (local.get $gpr) (i32.const 144)))
    (loop $tiles
      (local.set $cnt (i32.sub (local.get $n) (local.get $i0)))
      (if (i32.gt_u (local.get $cnt) (local.get $nb)) (then (local.set $cnt (local.get $nb))))
      (local.set $r (local.get $r0))
      (loop $rows
        ;; zero this row's accumulators
        (local.set $k (i32.const 0))
        (loop $zero
          (v128.store (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 4))) (v128.const i32x4 0 0 0 0))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $zero (i32.lt_u (local.get $k) (local.get $cnt))))
        (local.set $gi (i32.mul (local.get $r) (local.get $gpr)))
        (local.set $p (i32.add (local.get $w) (i32.mul (local.get $gi) (i32.const 16))))
        (local.set $g (i32.const 0))
        (loop $groups
          (local.set $v (v128.load (local.get $p)))
          (local.set $w0 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262144 (i32.const 0))))
            (v128.load offset=262272 (i32.const 0))))
          (local.set $w1 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262160 (i32.const 0))))
            (v128.load offset=262288 (i32.const 0))))
          (local.set $w2 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262176 (i32.const 0))))
            (v128.load offset=262304 (i32.const 0))))
          (local.set $w3 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262192 (i32.const 0))))
            (v128.load offset=262320 (i32.const 0))))
          (local.set $w4 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262208 (i32.const 0))))
            (v128.load offset=262336 (i32.const 0))))
          (local.set $w5 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262224 (i32.const 0))))
            (v128.load offset=262352 (i32.const 0))))
          (local.set $w6 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262240 (i32.const 0))))
            (v128.load offset=262368 (i32.const 0))))
          (local.set $w7 (f32x4.sub (f32x4.convert_i32x4_s (i32x4.shr_u (local.get $v) (i32.const 28)))
            (v128.load offset=262384 (i32.const 0))))
          (local.set $sc (f32.load (i32.shl
              (i32.load16_u (i32.add (local.get $s) (i32.shl (local.get $gi) (i32.const 1))))
              (i32.const 2))))
          (local.set $sv (f32x4.splat (local.get $sc)))
          (local.set $xp (i32.add (local.get $x)
            (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $gpr)) (local.get $g)) (i32.const 144))))
          (local.set $ap (local.get $acc))
          (local.set $i (i32.const 0))
          (loop $batch
            (v128.store (local.get $ap)
              (f32x4.add (v128.load (local.get $ap))
                (f32x4.mul (local.get $sv)
                  (f32x4.add
                    (f32x4.add
                      (f32x4.add (f32x4.mul (local.get $w0) (v128.load offset=0 (local.get $xp)))
                        (f32x4.mul (local.get $w1) (v128.load offset=16 (local.get $xp))))
                      (f32x4.add (f32x4.mul (local.get $w2) (v128.load offset=32 (local.get $xp)))
                        (f32x4.mul (local.get $w3) (v128.load offset=48 (local.get $xp)))))
                    (f32x4.add
                      (f32x4.add (f32x4.mul (local.get $w4) (v128.load offset=64 (local.get $xp)))
                        (f32x4.mul (local.get $w5) (v128.load offset=80 (local.get $xp))))
                      (f32x4.add (f32x4.mul (local.get $w6) (v128.load offset=96 (local.get $xp)))
                        (f32x4.mul (local.get $w7) (v128.load offset=112 (local.get $xp)))))))))
            (local.set $xp (i32.add (local.get $xp) (local.get $xstride)))
            (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $batch (i32.lt_u (local.get $i) (local.get $cnt))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
          (local.set $g (i32.add (local.get $g) (i32.const 1)))
          (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
        ;; y[i0 + k, r] = the four lanes
        (local.set $k (i32.const 0))
        (loop $store
          (local.set $v (v128.load (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 4)))))
          (f32.store
            (i32.add (local.get $out)
              (i32.shl
                (i32.add (i32.mul (i32.add (local.get $i0) (local.get $k)) (local.get $outStride)) (local.get $r))
                (i32.const 2)))
            (f32.add
                (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
                (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $store (i32.lt_u (local.get $k) (local.get $cnt))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $r) (local.get $r1))))
      (local.set $i0 (i32.add (local.get $i0) (local.get $cnt)))
      (br_if $tiles (i32.lt_u (local.get $i0) (local.get $n)))))

  ;; ---- Q8, one activation row (decode) ----
  ;; Per group: two 16-byte loads; each byte shifted to the top of its lane and arithmetically
  ;; back (exact int8 -> i32), converted, multiplied with the prepared activations, summed as a
  ;; tree, then one multiply by the group's scale into the row's f32x4 accumulator.
  (func (export "q8_vec")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32)
    (param $x i32) (param $xsum i32) (param $out i32) (param $outStride i32) (param $n i32)
    (param $nb i32) (param $acc i32) (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $g i32) (local $gi i32) (local $p i32) (local $xp i32)
    (local $v v128) (local $a v128) (local $u v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (local.set $r (local.get $r0))
    (loop $rows
      (local.set $gi (i32.mul (local.get $r) (local.get $gpr)))
      (local.set $p (i32.add (local.get $w) (i32.shl (local.get $gi) (i32.const 5))))
      (local.set $xp (local.get $x))
      (local.set $a (v128.const i32x4 0 0 0 0))
      (local.set $g (i32.const 0))
      (loop $groups
        (local.set $v (v128.load offset=0 (local.get $p)))
        (local.set $u (v128.load offset=16 (local.get $p)))
        (local.set $a
          (f32x4.add (local.get $a)
            (f32x4.mul
              (f32x4.add
              (f32x4.add
                (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $v) (i32.const 24)) (i32.const 24)))
                    (v128.load offset=0 (local.get $xp)))
                  (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $v) (i32.const 16)) (i32.const 24)))
                    (v128.load offset=16 (local.get $xp))))
                (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $v) (i32.const 8)) (i32.const 24)))
                    (v128.load offset=32 (local.get $xp)))
                  (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (local.get $v) (i32.const 24)))
                    (v128.load offset=48 (local.get $xp)))))
              (f32x4.add
                (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $u) (i32.const 24)) (i32.const 24)))
                    (v128.load offset=64 (local.get $xp)))
                  (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $u) (i32.const 16)) (i32.const 24)))
                    (v128.load offset=80 (local.get $xp))))
                (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $u) (i32.const 8)) (i32.const 24)))
                    (v128.load offset=96 (local.get $xp)))
                  (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_s (local.get $u) (i32.const 24)))
                    (v128.load offset=112 (local.get $xp))))))
              (f32x4.splat (f32.load (i32.shl
                (i32.load16_u (i32.add (local.get $s) (i32.shl (local.get $gi) (i32.const 1))))
                (i32.const 2)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $xp (i32.add (local.get $xp) (i32.const 144)))
        (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
        (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
          (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $r) (local.get $r1)))))

  ;; ---- Q8, several activation rows (prefill) ----
  ;; As q4_mat, with the Q8 decode of q8_vec.
  (func (export "q8_mat")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32)
    (param $x i32) (param $xsum i32) (param $out i32) (param $outStride i32) (param $n i32)
    (param $nb i32) (param $acc i32) (param $r0 i32) (param $r1 i32)
    (local $i0 i32) (local $cnt i32) (local $i i32) (local $k i32) (local $r i32) (local $g i32)
    (local $gi i32) (local $p i32) (local $xp i32) (local $ap i32) (local $xstride i32)
    (local $v v128) (local $sv v128) (local $sc f32) (local $u v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $w4 v128) (local $w5 v128) (local $w6 v128) (local $w7 v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $xstride (i32.mul (local.get $gpr) (i32.const 144)))
    (loop $tiles
      (local.set $cnt (i32.sub (local.get $n) (local.get $i0)))
      (if (i32.gt_u (local.get $cnt) (local.get $nb)) (then (local.set $cnt (local.get $nb))))
      (local.set $r (local.get $r0))
      (loop $rows
        ;; zero this row's accumulators
        (local.set $k (i32.const 0))
        (loop $zero
          (v128.store (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 4))) (v128.const i32x4 0 0 0 0))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $zero (i32.lt_u (local.get $k) (local.get $cnt))))
        (local.set $gi (i32.mul (local.get $r) (local.get $gpr)))
        (local.set $p (i32.add (local.get $w) (i32.mul (local.get $gi) (i32.const 32))))
        (local.set $g (i32.const 0))
        (loop $groups
          (local.set $v (v128.load offset=0 (local.get $p)))
          (local.set $u (v128.load offset=16 (local.get $p)))
          (local.set $w0 (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $v) (i32.const 24)) (i32.const 24))))
          (local.set $w1 (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $v) (i32.const 16)) (i32.const 24))))
          (local.set $w2 (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $v) (i32.const 8)) (i32.const 24))))
          (local.set $w3 (f32x4.convert_i32x4_s (i32x4.shr_s (local.get $v) (i32.const 24))))
          (local.set $w4 (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $u) (i32.const 24)) (i32.const 24))))
          (local.set $w5 (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $u) (i32.const 16)) (i32.const 24))))
          (local.set $w6 (f32x4.convert_i32x4_s (i32x4.shr_s (i32x4.shl (local.get $u) (i32.const 8)) (i32.const 24))))
          (local.set $w7 (f32x4.convert_i32x4_s (i32x4.shr_s (local.get $u) (i32.const 24))))
          (local.set $sc (f32.load (i32.shl
              (i32.load16_u (i32.add (local.get $s) (i32.shl (local.get $gi) (i32.const 1))))
              (i32.const 2))))
          (local.set $sv (f32x4.splat (local.get $sc)))
          (local.set $xp (i32.add (local.get $x)
            (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $gpr)) (local.get $g)) (i32.const 144))))
          (local.set $ap (local.get $acc))
          (local.set $i (i32.const 0))
          (loop $batch
            (v128.store (local.get $ap)
              (f32x4.add (v128.load (local.get $ap))
                (f32x4.mul (local.get $sv)
                  (f32x4.add
                    (f32x4.add
                      (f32x4.add (f32x4.mul (local.get $w0) (v128.load offset=0 (local.get $xp)))
                        (f32x4.mul (local.get $w1) (v128.load offset=16 (local.get $xp))))
                      (f32x4.add (f32x4.mul (local.get $w2) (v128.load offset=32 (local.get $xp)))
                        (f32x4.mul (local.get $w3) (v128.load offset=48 (local.get $xp)))))
                    (f32x4.add
                      (f32x4.add (f32x4.mul (local.get $w4) (v128.load offset=64 (local.get $xp)))
                        (f32x4.mul (local.get $w5) (v128.load offset=80 (local.get $xp))))
                      (f32x4.add (f32x4.mul (local.get $w6) (v128.load offset=96 (local.get $xp)))
                        (f32x4.mul (local.get $w7) (v128.load offset=112 (local.get $xp)))))))))
            (local.set $xp (i32.add (local.get $xp) (local.get $xstride)))
            (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $batch (i32.lt_u (local.get $i) (local.get $cnt))))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
          (local.set $g (i32.add (local.get $g) (i32.const 1)))
          (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
        ;; y[i0 + k, r] = the four lanes
        (local.set $k (i32.const 0))
        (loop $store
          (local.set $v (v128.load (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 4)))))
          (f32.store
            (i32.add (local.get $out)
              (i32.shl
                (i32.add (i32.mul (i32.add (local.get $i0) (local.get $k)) (local.get $outStride)) (local.get $r))
                (i32.const 2)))
            (f32.add
                (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
                (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $store (i32.lt_u (local.get $k) (local.get $cnt))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $r) (local.get $r1))))
      (local.set $i0 (i32.add (local.get $i0) (local.get $cnt)))
      (br_if $tiles (i32.lt_u (local.get $i0) (local.get $n)))))

  ;; ---- asymmetric Q4 (mins), one activation row ----
  ;; q4_vec, plus (min + 8 * scale) * sum(x) per group into a scalar accumulator. A kernel of its
  ;; own because a branch on mins inside q4_vec's loop costs it about 15% (V8 spills around it).
  (func (export "q4m_vec")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32)
    (param $x i32) (param $xsum i32) (param $out i32) (param $outStride i32) (param $n i32)
    (param $nb i32) (param $acc i32) (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $g i32) (local $gi i32) (local $p i32) (local $xp i32)
    (local $v v128) (local $a v128) (local $sc f32) (local $am f32)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (local.set $r (local.get $r0))
    (loop $rows
      (local.set $gi (i32.mul (local.get $r) (local.get $gpr)))
      (local.set $p (i32.add (local.get $w) (i32.shl (local.get $gi) (i32.const 4))))
      (local.set $xp (local.get $x))
      (local.set $a (v128.const i32x4 0 0 0 0))
      (local.set $am (f32.const 0))
      (local.set $g (i32.const 0))
      (loop $groups
        (local.set $v (v128.load (local.get $p)))
        (local.set $sc (f32.load (i32.shl
            (i32.load16_u (i32.add (local.get $s) (i32.shl (local.get $gi) (i32.const 1))))
            (i32.const 2))))
        (local.set $a
          (f32x4.add (local.get $a)
            (f32x4.mul
              (f32x4.add (v128.load offset=128 (local.get $xp))
              (f32x4.add
                (f32x4.add
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262144 (i32.const 0))))
                      (v128.load offset=0 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262160 (i32.const 0))))
                      (v128.load offset=16 (local.get $xp))))
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262176 (i32.const 0))))
                      (v128.load offset=32 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262192 (i32.const 0))))
                      (v128.load offset=48 (local.get $xp)))))
                (f32x4.add
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262208 (i32.const 0))))
                      (v128.load offset=64 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262224 (i32.const 0))))
                      (v128.load offset=80 (local.get $xp))))
                  (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262240 (i32.const 0))))
                      (v128.load offset=96 (local.get $xp)))
                    (f32x4.mul (f32x4.convert_i32x4_s (i32x4.shr_u (local.get $v) (i32.const 28)))
                      (v128.load offset=112 (local.get $xp)))))))
              (f32x4.splat (local.get $sc)))))
        (local.set $am
          (f32.add (local.get $am)
            (f32.mul
              (f32.add
                (f32.load (i32.shl
                  (i32.load16_u (i32.add (local.get $m) (i32.shl (local.get $gi) (i32.const 1))))
                  (i32.const 2)))
                (f32.mul (local.get $sc) (f32.const 8)))
              (f32.load (i32.add (local.get $xsum) (i32.shl (local.get $g) (i32.const 2)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $xp (i32.add (local.get $xp) (i32.const 144)))
        (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
        (f32.add
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
            (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a))))
          (local.get $am)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $r) (local.get $r1)))))

  ;; ---- asymmetric Q4 (mins), several activation rows ----
  ;; q4_mat, plus (min + 8 * scale) * sum(x) per group and row into scalar accumulators at acc + nb * 16.
  (func (export "q4m_mat")
    (param $gpr i32) (param $w i32) (param $s i32) (param $m i32)
    (param $x i32) (param $xsum i32) (param $out i32) (param $outStride i32) (param $n i32)
    (param $nb i32) (param $acc i32) (param $r0 i32) (param $r1 i32)
    (local $i0 i32) (local $cnt i32) (local $i i32) (local $k i32) (local $r i32) (local $g i32)
    (local $gi i32) (local $p i32) (local $xp i32) (local $ap i32) (local $xstride i32)
    (local $v v128) (local $sv v128) (local $sc f32)  (local $mv f32) (local $sp i32) (local $mp i32)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $w4 v128) (local $w5 v128) (local $w6 v128) (local $w7 v128)
    (if (i32.ge_u (local.get $r0) (local.get $r1)) (then (return)))
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $xstride (i32.mul (local.get $gpr) (i32.const 144)))
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
        (local.set $p (i32.add (local.get $w) (i32.mul (local.get $gi) (i32.const 16))))
        (local.set $g (i32.const 0))
        (loop $groups
          (local.set $v (v128.load (local.get $p)))
          (local.set $w0 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262144 (i32.const 0))))
            (v128.load offset=262272 (i32.const 0))))
          (local.set $w1 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262160 (i32.const 0))))
            (v128.load offset=262288 (i32.const 0))))
          (local.set $w2 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262176 (i32.const 0))))
            (v128.load offset=262304 (i32.const 0))))
          (local.set $w3 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262192 (i32.const 0))))
            (v128.load offset=262320 (i32.const 0))))
          (local.set $w4 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262208 (i32.const 0))))
            (v128.load offset=262336 (i32.const 0))))
          (local.set $w5 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262224 (i32.const 0))))
            (v128.load offset=262352 (i32.const 0))))
          (local.set $w6 (f32x4.sub (f32x4.convert_i32x4_s (v128.and (local.get $v) (v128.load offset=262240 (i32.const 0))))
            (v128.load offset=262368 (i32.const 0))))
          (local.set $w7 (f32x4.sub (f32x4.convert_i32x4_s (i32x4.shr_u (local.get $v) (i32.const 28)))
            (v128.load offset=262384 (i32.const 0))))
          (local.set $sc (f32.load (i32.shl
              (i32.load16_u (i32.add (local.get $s) (i32.shl (local.get $gi) (i32.const 1))))
              (i32.const 2))))
          (local.set $sv (f32x4.splat (local.get $sc)))
          (local.set $mv (f32.add
                (f32.load (i32.shl
                  (i32.load16_u (i32.add (local.get $m) (i32.shl (local.get $gi) (i32.const 1))))
                  (i32.const 2)))
                (f32.mul (local.get $sc) (f32.const 8))))
          (local.set $sp (i32.add (local.get $xsum)
            (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $gpr)) (local.get $g)) (i32.const 2))))
          (local.set $mp (i32.add (local.get $acc) (i32.shl (local.get $nb) (i32.const 4))))
          (local.set $xp (i32.add (local.get $x)
            (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $gpr)) (local.get $g)) (i32.const 144))))
          (local.set $ap (local.get $acc))
          (local.set $i (i32.const 0))
          (loop $batch
            (v128.store (local.get $ap)
              (f32x4.add (v128.load (local.get $ap))
                (f32x4.mul (local.get $sv)
                  (f32x4.add
                    (f32x4.add
                      (f32x4.add (f32x4.mul (local.get $w0) (v128.load offset=0 (local.get $xp)))
                        (f32x4.mul (local.get $w1) (v128.load offset=16 (local.get $xp))))
                      (f32x4.add (f32x4.mul (local.get $w2) (v128.load offset=32 (local.get $xp)))
                        (f32x4.mul (local.get $w3) (v128.load offset=48 (local.get $xp)))))
                    (f32x4.add
                      (f32x4.add (f32x4.mul (local.get $w4) (v128.load offset=64 (local.get $xp)))
                        (f32x4.mul (local.get $w5) (v128.load offset=80 (local.get $xp))))
                      (f32x4.add (f32x4.mul (local.get $w6) (v128.load offset=96 (local.get $xp)))
                        (f32x4.mul (local.get $w7) (v128.load offset=112 (local.get $xp)))))))))
            (f32.store (local.get $mp)
              (f32.add (f32.load (local.get $mp))
                (f32.mul (local.get $mv) (f32.load (local.get $sp)))))
            (local.set $mp (i32.add (local.get $mp) (i32.const 4)))
            (local.set $sp (i32.add (local.get $sp) (i32.shl (local.get $gpr) (i32.const 2))))
            (local.set $xp (i32.add (local.get $xp) (local.get $xstride)))
            (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $batch (i32.lt_u (local.get $i) (local.get $cnt))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
          (local.set $g (i32.add (local.get $g) (i32.const 1)))
          (br_if $groups (i32.lt_u (local.get $g) (local.get $gpr))))
        ;; y[i0 + k, r] = the four lanes + the min sum
        (local.set $k (i32.const 0))
        (loop $store
          (local.set $v (v128.load (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 4)))))
          (f32.store
            (i32.add (local.get $out)
              (i32.shl
                (i32.add (i32.mul (i32.add (local.get $i0) (local.get $k)) (local.get $outStride)) (local.get $r))
                (i32.const 2)))
            (f32.add
              (f32.add
                (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
                (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))
              (f32.load (i32.add (i32.add (local.get $acc) (i32.shl (local.get $nb) (i32.const 4)))
                (i32.shl (local.get $k) (i32.const 2))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $store (i32.lt_u (local.get $k) (local.get $cnt))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $r) (local.get $r1))))
      (local.set $i0 (i32.add (local.get $i0) (local.get $cnt)))
      (br_if $tiles (i32.lt_u (local.get $i0) (local.get $n)))))
)
