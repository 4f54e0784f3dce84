// mobilellm W8A8 kernels: the contract between the runtime and every ISA variant.
//
// Shapes. A linear layer computes C[M][N] = A[M][K] · W[N][K]^T where
//   A = activations, int8, quantized per row (per token) with scale a_scale[m]   ("qs8dx")
//   W = weights, int8, one scale per output row w_scale[n]                       ("qs8cx")
//   C = float32:  C[m][n] = a_scale[m] * w_scale[n] * sum_k A[m][k] * W[n][k]   ("f32")
// M = 1 is the decode GEMV; M > 1 the prefill GEMM. All int8 values -128..127 are valid inputs and
// every variant's int32 sums equal the scalar reference's exactly.
//
// The float result is evaluated as exactly this expression, in this order, with no fused
// multiply-add (kernel translation units are built with -ffp-contract=off):
//     c = (a_scale[m] * w_scale[n]) * float(sum)     (float(sum): int32 -> float, to nearest)
// so a variant that follows it reproduces the reference bit for bit.
//
// Layouts (part of each variant's contract):
//   - W is the model file's canonical rows: N rows of K int8, row j at w + j * w_stride
//     (w_stride >= k; no alignment is promised: the converter's files put every tensor on a
//     64-byte boundary of the mapping, which is what the kernels are fastest with). The decode
//     GEMV reads these rows directly from the mapped file: no copy, no repacking. Reads of W stay
//     inside bytes [0, k) of each row used (the last row may end where a mapping ends), so a
//     kernel handles a K tail that is not a multiple of its step itself (masked loads, or a copy
//     of the tail into a zeroed local buffer).
//   - The prefill GEMM runs on panels of W repacked on the fly: pack() writes columns [0, n) of
//     a canonical block (rows exactly k bytes apart) into the variant's private layout
//     (`packed_size(n, k)` bytes, per-row sums included where the variant needs them), and
//     gemm_f32 / gemm_s32 read it. A packed layout is a sequence of independent blocks of `nr`
//     columns, the last one zero-padded: columns [b * nr, b * nr + nr) occupy bytes
//     [b * S, (b + 1) * S) with S = packed_size(nr, k), whatever n is, so a panel starting on a
//     multiple of nr packs to the same bytes as the whole matrix has there (the driver packs
//     blocks separately when W's rows are not k bytes apart). qgemm_f32_canonical() (below) does
//     this panel by panel into a per-thread workspace, so each weight byte is repacked once per
//     GEMM call and reused for all M rows; it is what the runtime calls. Packed buffers should
//     start on a kPackedAlignment boundary (any alignment is correct; that one is fast).
//   - A rows are `a_stride` bytes apart, a_stride >= k_padded(k, kr); bytes [k, k_padded) of each
//     row are zero (the quantizer writes them), so kernels may read whole K steps of A.
//   - A variant computes output columns [n_begin, n_end); n_begin is a multiple of `nr` (threads
//     split N on nr boundaries), n_end is a multiple of nr or N. Column indices are absolute:
//     `w` / `packed`, `w_scale` and `c` always describe all N columns, so every thread passes the
//     same pointers; c rows are `c_stride` elements apart. Columns outside [n_begin, n_end) are
//     neither read (w, w_scale) nor written (c).
//   - Preconditions (checked by the caller, not by the kernels): 1 <= k <= kMaxK, n >= 1,
//     n_begin <= n_end <= n, and every buffer as large as the shapes say.
// Naming (see kernels/README.md): qgemm_f32_qs8dx_qs8cx__<isa>_<mr>x<nr>c<kr> (GEMM) and
// qgemv_f32_qs8dx_qs8cx__<isa>_<g>x<s> (GEMV: g outputs per group, K in steps of s bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mobilellm::kernels {

// The largest K any variant accepts: |sum_k A[m][k] * W[n][k]| <= 128 * 128 * K must fit in int32
// (16384 * 131071 = 2147467264 <= 2^31 - 1).
inline constexpr std::uint32_t kMaxK = 131071;

// Alignment the runtime should give packed weight buffers (one cache line, one AVX-512 vector).
inline constexpr std::size_t kPackedAlignment = 64;

struct CpuFeatures {
  // x86-64; each AVX flag is set only when the OS also saves the register state it needs (XCR0).
  bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512vl = false,
       avx512vnni = false;
  bool f16c = false;  // half <-> single conversions (VEX; the AVX2 attention's f16 KV cache)
  // aarch64
  bool neon = false, dotprod = false, i8mm = false;
  std::string model;  // CPU brand string, or "" when unknown
};

// Reads the CPU's features (cpuid/xgetbv on x86; getauxval HWCAP/HWCAP2 on Linux/Android arm64;
// sysctlbyname on Apple). Computed once.
const CpuFeatures& cpu_features();

// What each ISA needs, as QGemmVariant::supported / QuantizeVariant::supported. These are compiled
// for the baseline ISA, so they are safe to call on any CPU.
bool isa_scalar_supported(const CpuFeatures& cpu);      // always true
bool isa_avx2_supported(const CpuFeatures& cpu);        // AVX2 + FMA
bool isa_avx512vnni_supported(const CpuFeatures& cpu);  // AVX-512 F, BW, VL and VNNI
bool isa_neon_supported(const CpuFeatures& cpu);        // Advanced SIMD
bool isa_neondot_supported(const CpuFeatures& cpu);     // + dot product (sdot)
bool isa_neoni8mm_supported(const CpuFeatures& cpu);    // + int8 matrix multiply (smmla)

// Per-row symmetric activation quantizer:
//   scale[m] = max_k |x[m][k]| / 127, or 1 when that maximum is below kQuantizeMinAbsMax (a row
//              of zeros or of values so small that max/127 would not be a normal float);
//   q[m][k]  = round-half-away-from-zero(x[m][k] / scale[m]) clamped to [-127, 127] (an IEEE
//              division, so every variant gives identical bytes);
//   q[m][k]  = 0 for k in [k, k_padded); bytes [k_padded, q_stride) are not written.
// Non-finite inputs give unspecified values but no UB. Preconditions: k <= k_padded <= q_stride,
// k <= x_stride.
inline constexpr float kQuantizeMinAbsMax = 127.0f * 0x1p-126f;  // 127 * FLT_MIN

struct QuantizeVariant {
  const char* name;  // e.g. "quantize_qs8dx_f32__avx2"
  const char* isa;
  bool (*supported)(const CpuFeatures&);
  void (*run)(std::uint32_t m, std::uint32_t k, std::uint32_t k_padded, const float* x,
              std::size_t x_stride, std::int8_t* q, std::size_t q_stride, float* scale);
};

struct QGemmVariant {
  const char* name;       // the GEMM micro-kernel, e.g. "qgemm_f32_qs8dx_qs8cx__avx512vnni_4x64c4"
  const char* gemv_name;  // the M = 1 kernel, e.g. "qgemv_f32_qs8dx_qs8cx__avx512vnni_16x64"
  const char* isa;        // "scalar", "avx2", "avx512vnni", "neon", "neondot", "neoni8mm"
  bool (*supported)(const CpuFeatures&);
  std::uint32_t mr, nr, kr;  // GEMM tile rows of A, columns of C; K granularity

  std::size_t (*packed_size)(std::uint32_t n, std::uint32_t k);
  // Canonical int8 rows W[n][k] -> private layout (may include per-row sums for offset correction).
  void (*pack)(std::uint32_t n, std::uint32_t k, const std::int8_t* w, void* packed);

  // Exact int32 sums: c[m][j] = sum_k A[m][k] * W[j][k] for j in [n_begin, n_end). Test path.
  void (*gemm_s32)(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                   const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
                   std::size_t c_stride);
  // The fused product with rescale, for M >= 1 rows of A.
  void (*gemm_f32)(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                   const std::int8_t* a, std::size_t a_stride, const float* a_scale,
                   const void* packed, const float* w_scale, float* c, std::size_t c_stride);
  // M = 1 (decode), on canonical rows: c[j] = (a_scale * w_scale[j]) * float(sum_k a[k] * w[j][k])
  // for j in [n_begin, n_end), with w[j] at w + j * w_stride. `a` is zero-padded to k_padded.
  void (*gemv_f32)(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                   const std::int8_t* a, float a_scale, const std::int8_t* w, std::size_t w_stride,
                   const float* w_scale, float* c);
  // The same GEMV's exact int32 sums (the test path): c[j] = sum_k a[k] * w[j][k].
  void (*gemv_s32)(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                   const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                   std::int32_t* c);
};

inline std::uint32_t k_padded(std::uint32_t k, std::uint32_t kr) { return (k + kr - 1) / kr * kr; }

// ------------------------------------------------------------------- group-wise W8A8 ("g32")
//
// The same product with one scale per group of kGroupSize consecutive K, for the weights (per
// output row and group, static) and for the activations (per token and group, dynamic):
//   A: int8, a_scale[m][g]   ("qs8dg32")        W: int8, w_scale[n][g]   ("qs8cg32")
//   S[m][n][g] = sum_{k in group g} A[m][k] * W[n][k]      (exact int32: |S| <= 32 * 2^14 = 2^19)
//   C[m][n]    = sum_g (a_scale[m][g] * w_scale[n][g]) * float(S[m][n][g])
// Group g covers K indices [32g, min(32g + 32, K)); the last group of a K that is not a multiple
// of 32 is shorter (the kernels see it zero-padded). The float result is evaluated as exactly
//     acc = 0.0f;  for g = 0, 1, ...: acc = acc + (a_scale[m][g] * w_scale[n][g]) * float(S);
// in this order, no fused multiply-add, so a variant that follows it reproduces the reference
// bit for bit (float(S) is exact: |S| < 2^24).
//
// Layouts:
//   - W and its scales are handed to pack() as canonical rows (N rows of K int8; N rows of
//     group_count(K) floats, as stored in the model file). pack() copies both into the variant's
//     private layout, so the kernels take no separate w_scale.
//   - A rows are `a_stride` bytes apart, a_stride >= k_padded(k, kGroupSize), and bytes
//     [k, k_padded(k, kGroupSize)) of each row are zero (quantize_groups() writes them). a_scale
//     holds group_count(k) floats per row, rows back to back.
//   - Columns, [n_begin, n_end), threads and preconditions as for QGemmVariant above.
inline constexpr std::uint32_t kGroupSize = 32;

inline std::uint32_t group_count(std::uint32_t k) { return (k + kGroupSize - 1) / kGroupSize; }

struct QGemmG32Variant {
  const char* name;       // e.g. "qgemm_f32_qs8dg32_qs8cg32__avx512vnni_4x32c4"
  const char* gemv_name;  // e.g. "qgemv_f32_qs8dg32_qs8cg32__avx512vnni_32c4"
  const char* isa;        // as QGemmVariant::isa; at most one grouped variant per ISA
  bool (*supported)(const CpuFeatures&);
  std::uint32_t mr, nr, kr;

  std::size_t (*packed_size)(std::uint32_t n, std::uint32_t k);
  // Canonical int8 rows W[n][k] and scales w_scale[n][group_count(k)] -> private layout.
  void (*pack)(std::uint32_t n, std::uint32_t k, const std::int8_t* w, const float* w_scale,
               void* packed);

  // Exact int32 group sums: c[m * c_stride + j * group_count(k) + g] = S[m][j][g] for j in
  // [n_begin, n_end) (c_stride >= n * group_count(k)). Test path.
  void (*gemm_s32)(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                   const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
                   std::size_t c_stride);
  // The rescaled product for M >= 1 rows of A.
  void (*gemm_f32)(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                   const std::int8_t* a, std::size_t a_stride, const float* a_scale,
                   const void* packed, float* c, std::size_t c_stride);
  // M = 1 (decode): one activation row (group_count(k) scales) against columns [n_begin, n_end).
  void (*gemv_f32)(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                   const std::int8_t* a, const float* a_scale, const void* packed, float* c);
};

// The activation quantizer per group: the per-row quantizer `q` applied to every group of 32 of
// every row, the last group of a row zero-padded to 32 bytes. So each group gets its own scale,
// q_stride >= k_padded(k, kGroupSize), and `scale` receives group_count(k) floats per row. The
// bytes are identical for every QuantizeVariant (their contract).
inline void quantize_groups(const QuantizeVariant& q, std::uint32_t m, std::uint32_t k,
                            const float* x, std::size_t x_stride, std::int8_t* out,
                            std::size_t q_stride, float* scale) {
  const std::uint32_t groups = group_count(k), full = k / kGroupSize, tail = k % kGroupSize;
  for (std::uint32_t i = 0; i < m; ++i) {
    const float* row = x + i * x_stride;
    std::int8_t* qrow = out + i * q_stride;
    float* srow = scale + static_cast<std::size_t>(i) * groups;
    // The full groups of a row are consecutive rows of kGroupSize floats.
    if (full > 0) q.run(full, kGroupSize, kGroupSize, row, kGroupSize, qrow, kGroupSize, srow);
    if (tail > 0) {
      const std::size_t at = static_cast<std::size_t>(full) * kGroupSize;
      q.run(1, tail, kGroupSize, row + at, tail, qrow + at, kGroupSize, srow + full);
    }
  }
}

// The prefill GEMM on canonical rows (what the runtime calls for M >= 2): columns [n_begin, n_end)
// are processed in panels of qgemm_panel_columns(v) columns; each panel is packed with v.pack
// into `workspace` (qgemm_workspace_size(v, k) bytes, kPackedAlignment-aligned, one per thread)
// and multiplied by all M rows of A with v.gemm_f32. Same result, bit for bit, as v.gemm_f32 on
// the whole matrix packed at once. Compiled for the baseline ISA (it only calls the variant).
std::uint32_t qgemm_panel_columns(const QGemmVariant& v);
std::size_t qgemm_workspace_size(const QGemmVariant& v, std::uint32_t k);
void qgemm_f32_canonical(const QGemmVariant& v, std::uint32_t m, std::uint32_t n_begin,
                         std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
                         std::size_t a_stride, const float* a_scale, const std::int8_t* w,
                         std::size_t w_stride, const float* w_scale, void* workspace, float* c,
                         std::size_t c_stride);

// Every variant compiled into this build for this architecture (supported or not by this CPU),
// scalar reference first, then in increasing order of preference (the last one this CPU supports
// is the default). Tests and benchmarks iterate over these.
std::span<const QGemmVariant> qgemm_variants();
std::span<const QuantizeVariant> quantize_variants();

// The variant used at run time: `override_isa` when given (the CLI's --kernels), else the
// MOBILELLM_KERNELS environment variable when set and not empty, else the best this CPU supports.
// Names are ISA names (e.g. "avx2", "scalar") or "auto" (the best supported). The quantizer is
// the most preferred one this CPU supports among those whose ISA is at or below the chosen GEMM's
// (so "avx512vnni" pairs with the AVX2 quantizer). Chosen once per process unless `override_isa`
// is passed. Throws mobilellm::InvalidArgument, listing the valid names, for an unknown name or
// one this CPU cannot run.
const QGemmVariant& select_qgemm(const char* override_isa = nullptr);
const QuantizeVariant& select_quantize(const char* override_isa = nullptr);

// The selection rule itself, for a given name ("" or "auto": the best) and CPU: what the two
// functions above apply to cpu_features(). Deterministic and uncached (tests use made-up CPUs).
const QGemmVariant& resolve_qgemm(std::string_view isa, const CpuFeatures& cpu);
const QuantizeVariant& resolve_quantize(std::string_view isa, const CpuFeatures& cpu);

// The group-wise variants, scalar reference first, then in increasing order of preference.
std::span<const QGemmG32Variant> qgemm_g32_variants();
// The grouped GEMM for the same names and rules: the most preferred one this CPU supports among
// those whose ISA is at or below the GEMM select_qgemm(override_isa) would choose (ISAs without a
// grouped variant fall back to the best one below them, at worst the scalar reference).
const QGemmG32Variant& select_qgemm_g32(const char* override_isa = nullptr);
const QGemmG32Variant& resolve_qgemm_g32(std::string_view isa, const CpuFeatures& cpu);


// ---------------------------------------- attention (float32 arithmetic, causal GQA, f32/f16 KV)
//
// softmax(q · Kᵀ · scale) · V for query rows of one KV head (kernels/README.md, "Attention"). A
// call handles rows [row_begin, row_end) of one KV head's grouped queries: row r is token
// t = r / group, query head h = r % group of the group, and attends to the cached positions
// [0, pos0 + t] (causal). Layouts:
//   - queries and outputs: row (t, h) at q + t * q_stride + h * head_dim (out: out_stride), so the
//     runtime passes its per-token rows of all heads offset to the group's first head;
//   - keys and values: position p at k + p * head_dim and v + p * head_dim elements (the KvCache
//     rows of one KV head), read only for p <= pos0 + (the call's last token). The elements are
//     float32 (kv_type f32) or IEEE binary16 bits (kv_type f16, std::uint16_t). An f16 element is
//     read as its float32 value (exact: every binary16 value is a float32), so the operations
//     below, and their bits, are those of the f32 call on the widened cache. The SIMD variants
//     widen each chunk's keys and values into their workspace with the ISA's conversion
//     (vcvtph2ps, fcvtl) and then run the float32 code unchanged.
//
// The result is defined as exactly these float32 operations per row (fma: fused, rounded once;
// E: the exponential below), in this order, so every variant gives the same bits as the scalar
// reference, whatever its tiling and thread split (an output that is exactly zero may differ in
// its sign):
//   qs[d] = q[d] * scale
//   M = -inf, L = 0, o[j] = 0
//   for each chunk c of positions [c * kAttentionChunk, (c + 1) * kAttentionChunk) ∩ [0, len):
//     c_i  = 0 (i < 4);  c_(d mod 4) = fma(qs[d], k[p][d], c_(d mod 4)) for d = 0, 1, ..., D - 1
//     s_p  = (c_0 + c_1) + (c_2 + c_3)         (four chains: about half the rounding error of one)
//     m_c  = max_p s_p
//     e_p  = E(s_p - m_c);  l_c = 0;  l_c = l_c + e_p for p in increasing order
//     oc_j = 0;  oc_j = fma(e_p, v[p][j], oc_j) for p in increasing order
//     m = max(M, m_c);  a = E(M - m);  b = E(m_c - m)
//     L = fma(l_c, b, L * a);  o[j] = fma(oc_j, b, o[j] * a);  M = m
//   out[j] = o[j] / L
// (flash attention's chunked online softmax: a chunk's numerators relative to its own maximum,
// folded into the running result). E is an exponential for x <= 0 with about 1 ulp of error:
//   E(x) = 0 if !(x >= kAttentionExpMin) (-inf and NaN included); else, with x = min(x, 0),
//   n = (x * log2(e) + 1.5 * 2^23) - 1.5 * 2^23         (x * log2(e) rounded to an integer)
//   r = fma(n, -0.693359375, x);  r = fma(n, 2.12194440e-4, r)
//   P = 1.9875691500e-4;  P = fma(P, r, c) for c = 1.3981999507e-3, 8.3334519073e-3,
//       4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1       (Cephes expf)
//   E = (fma(P, r * r, r) + 1) * 2^n                       (2^n exact: n >= -126)
// Preconditions: head_dim >= 1, group >= 1, row_begin < row_end, pos0 + (last token) < 2^32 - 1,
// every row finite (no inf or NaN: 0 * inf would make a masked position count), workspace
// `workspace_size(head_dim)` bytes on a kPackedAlignment boundary, one per thread.
inline constexpr std::uint32_t kAttentionChunk = 64;
inline constexpr float kAttentionExpMin = -87.0f;  // E(-87) = 1.6e-38, still a normal float

// Element type of the cached keys and values (the runtime's SessionOptions::kv_type).
enum class KvType : std::uint8_t {
  f32,  // float
  f16,  // IEEE binary16, as std::uint16_t bits (written by the runtime, round to nearest even)
};

struct AttentionArgs {
  std::uint32_t head_dim;  // D
  std::uint32_t group;     // query heads per KV head
  std::uint32_t pos0;      // position of token 0
  float scale;             // multiplies the queries (1 / sqrt(D))
  const float* q;
  std::size_t q_stride;    // floats from one token's queries to the next
  const void* k;           // position p at element p * D (float or std::uint16_t: kv_type)
  const void* v;           // position p at element p * D
  KvType kv_type = KvType::f32;
  float* out;
  std::size_t out_stride;
};

struct AttentionVariant {
  const char* name;        // with a float32 cache, e.g. "attention_f32_gqa__avx512f_48x2"
  const char* kvf16_name;  // with an f16 cache, e.g. "attention_f32_gqa_kvf16__avx512f_48x2"
  const char* isa;         // "scalar", "avx2", "avx512f", "neon"
  bool (*supported)(const CpuFeatures&);
  // Query rows a variant handles together (one tile: each chunk of keys and values is read once
  // per tile). Callers that split rows over threads should cut on multiples of it.
  std::uint32_t tile_rows;
  // For any of the three calls below and either KV type.
  std::size_t (*workspace_size)(std::uint32_t head_dim);
  void (*run)(const AttentionArgs& args, std::uint32_t row_begin, std::uint32_t row_end,
              void* workspace);

  // The same result in two steps, for few rows (decoding: the group's heads of one token), so
  // that chunks can go to different threads. chunk_partials() writes the contract's quantities
  // of chunk `chunk` for each row, D + 2 floats per row: partials[i * (D + 2) + j] = oc_j of row
  // row_begin + i, then m_c, then l_c; a chunk that starts past a row's last position gives
  // oc = 0, m_c = -inf, l_c = 0 (which the fold leaves without effect). fold_partials() folds
  // chunks 0 .. chunks-1 in order (chunk c's rows at partials + c * (row_end - row_begin) *
  // (D + 2)) and writes the rows' outputs: the bits of run() when `chunks` covers every row's
  // positions.
  void (*chunk_partials)(const AttentionArgs& args, std::uint32_t row_begin, std::uint32_t row_end,
                         std::uint32_t chunk, float* partials, void* workspace);
  void (*fold_partials)(const AttentionArgs& args, std::uint32_t row_begin, std::uint32_t row_end,
                        std::uint32_t chunks, const float* partials);

  // What runs for a cache of this type (stats and logs).
  const char* name_for(KvType kv) const { return kv == KvType::f16 ? kvf16_name : name; }
};

bool isa_avx512f_supported(const CpuFeatures& cpu);  // AVX-512 F (the attention kernels only)
// AVX2 + FMA + F16C: the AVX2 attention unit (F16C widens an f16 cache; every AVX2 CPU has it,
// but a VM may hide it).
bool isa_avx2_f16c_supported(const CpuFeatures& cpu);

// Scalar reference first, then in increasing order of preference.
std::span<const AttentionVariant> attention_variants();
// The same names and environment as select_qgemm(): "auto" (or no name) chooses the best
// attention variant this CPU supports; an ISA name (validated as select_qgemm() does) the best
// supported one at or below it, in the order scalar < avx2 < avx512f < avx512vnni (x86) and
// neon < neondot < neoni8mm (aarch64). Chosen once per process unless `override_isa` is passed.
const AttentionVariant& select_attention(const char* override_isa = nullptr);
const AttentionVariant& resolve_attention(std::string_view isa, const CpuFeatures& cpu);

}  // namespace mobilellm::kernels
