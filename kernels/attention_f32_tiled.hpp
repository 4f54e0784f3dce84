// The tiled float32 attention of the SIMD variants (contract: kernels/kernels.hpp, "attention";
// design: kernels/README.md, "Attention"), written once over a small set of vector operations
// that each ISA unit supplies (`Ops`, below). Everything here is in an unnamed namespace and is
// instantiated only with the including unit's Ops, so each unit gets its own copy, compiled with
// its own flags (the ODR rule of kernels/README.md). No standard-library templates.
//
// A float16 KV cache (AttentionArgs::kv_type) is widened chunk by chunk into the workspace
// (Ops::load_f16, exact) and then read by the same float32 code, so both cache types give the bits
// of the float32 code on the same (widened) values.
//
// Layout of a tile: the query rows are the lanes. A tile holds up to kTileRows = NRV x kLanes
// rows (token, head); its queries are transposed once into qt[d][row] (scaled), so that
//   scores:  s[p][row]  = sum_d qt[d][row] * k[p][d]     (a vector of rows per position: one load
//            of qt, one broadcast of k[p][d], one fma per vector; NP positions x NRV vectors x
//            the contract's 4 chains of accumulators)
//   values:  oc[j][row] = sum_p s[p][row] * v[p][j]      (one load of s, one broadcast of
//            v[p][j]; NJ columns x NRV vectors of accumulators)
// and the softmax's per-row maximum, sums and rescaling are lane-wise. Keys and values are read
// in their cache layout (no packing) once per tile and chunk. The running output o[j][row] stays
// transposed in the workspace until the end of the tile.
//
// Ops provides: V, kLanes, zero(), set1(f), load(p), store(p, v) (unaligned), bcast(p) (*p in
// every lane), fma(a, b, c) = a * b + c rounded once, mul, add, sub, div, max, min (IEEE; max/min
// of a NaN operand return the second one or the NaN, either is fine here), pow2(n) = 2^n for
// integral n in [-126, 0], zero_unless_ge(x, lo, y) = (x >= lo ? y : 0) per lane (0 for NaN x),
// masked_after(s, limits, p) = (p <= limit ? s : -inf) per lane, where `limits` holds each
// lane's limit as int32 biased by 2^31 (so a signed compare orders them as unsigned), and
// load_f16(p) = kLanes IEEE binary16 values at p (unaligned) widened to float32 (exact).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels {
namespace {

inline std::int32_t biased_position(std::uint32_t p) {
  return static_cast<std::int32_t>(p ^ 0x80000000u);
}

// n binary16 values at src -> n floats at dst, kLanes at a time with O::load_f16; the last
// n % kLanes through a zero-padded copy (nothing past src + n is read, nothing past dst + n
// written).
template <class O>
void widen_f16(const std::uint16_t* src, std::size_t n, float* dst) {
  constexpr unsigned kLanes = O::kLanes;
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) O::store(dst + i, O::load_f16(src + i));
  if (i < n) {
    std::uint16_t h[kLanes];
    float f[kLanes];
    for (unsigned x = 0; x < kLanes; ++x) h[x] = i + x < n ? src[i + x] : 0;
    O::store(f, O::load_f16(h));
    for (unsigned x = 0; i + x < n; ++x) dst[i + x] = f[x];
  }
}

// Positions [p0, p0 + count) of one KV head's keys or values (D elements each) as float32 rows:
// the cache itself when it is float32, else widened into `buf` (count * D floats).
template <class O>
const float* chunk_rows(const void* base, KvType kv, std::uint64_t p0, std::uint32_t count,
                        std::uint32_t D, float* buf) {
  if (kv == KvType::f32) return static_cast<const float*>(base) + p0 * D;
  widen_f16<O>(static_cast<const std::uint16_t*>(base) + p0 * D, std::size_t{count} * D, buf);
  return buf;
}

inline std::size_t kv_element_bytes(KvType kv) {
  return kv == KvType::f16 ? sizeof(std::uint16_t) : sizeof(float);
}

// E(x) of the contract, lane by lane: exactly the scalar reference's operations.
template <class O>
typename O::V contract_exp(typename O::V x) {
  using V = typename O::V;
  const V round = O::set1(12582912.0f);  // 1.5 * 2^23
  const V xc = O::min(O::max(x, O::set1(kAttentionExpMin)), O::zero());
  const V n = O::sub(O::add(O::mul(xc, O::set1(1.44269504088896341f)), round), round);
  V r = O::fma(n, O::set1(-0.693359375f), xc);
  r = O::fma(n, O::set1(2.12194440e-4f), r);
  V p = O::set1(1.9875691500e-4f);
  p = O::fma(p, r, O::set1(1.3981999507e-3f));
  p = O::fma(p, r, O::set1(8.3334519073e-3f));
  p = O::fma(p, r, O::set1(4.1665795894e-2f));
  p = O::fma(p, r, O::set1(1.6666665459e-1f));
  p = O::fma(p, r, O::set1(5.0000001201e-1f));
  const V y = O::add(O::fma(p, O::mul(r, r), r), O::set1(1.0f));
  return O::zero_unless_ge(x, kAttentionExpMin, O::mul(y, O::pow2(n)));
}

// NRV_MAX vectors of query rows per tile, NP key positions per score step, NJ value columns per
// output step. NP divides kAttentionChunk, NJ is a power of two.
template <class O, unsigned NRV_MAX, unsigned NP, unsigned NJ>
struct TiledAttention {
  using V = typename O::V;
  static constexpr unsigned kLanes = O::kLanes;
  static constexpr unsigned kTileRows = NRV_MAX * kLanes;  // the stride of every [.][row] array
  static constexpr unsigned kChunk = kAttentionChunk;
  static_assert(kChunk % NP == 0, "a score step never crosses a chunk");
  static_assert((NJ & (NJ - 1)) == 0, "column tails are taken NJ/2, NJ/4, ..., 1 at a time");

  // Workspace, in floats: qt[D][R], ot[D][R], s[kChunk][R], then R each of the running maximum,
  // running sum, the chunk's two fold factors and the rows' limits (int32), then NP rows of keys
  // (a zero-padded copy of the last step's keys when fewer than NP remain), then kChunk rows of a
  // float16 cache's chunk widened: its keys for the scores, then its values (one buffer, so that
  // the tile's working set grows by 16 KB at D = 64, not 32).
  static std::size_t workspace_size(std::uint32_t head_dim) {
    const std::size_t R = kTileRows;
    return (2 * std::size_t{head_dim} * R + kChunk * R + 5 * R + NP * std::size_t{head_dim} +
            std::size_t{kChunk} * head_dim) *
           sizeof(float);
  }

  // Scores of NP positions (keys k[i * D], i < NP) for NRV vectors of rows: s[i][row], each the
  // contract's four fma chains (d = 0, 4, 8, ...; d = 1, 5, ...; ...) summed as (c0 + c1) +
  // (c2 + c3). Per step of 4 d: 4 NRV loads of qt, 4 NP broadcasts of keys, 4 NP NRV fma.
  template <unsigned NRV>
  [[gnu::noinline]] static void scores(const float* qt, const float* k, std::uint32_t D,
                                       float* s) {
    V acc[4][NP][NRV];
#pragma GCC unroll 4
    for (unsigned c = 0; c < 4; ++c)
#pragma GCC unroll 64
      for (unsigned i = 0; i < NP; ++i)
#pragma GCC unroll 8
        for (unsigned r = 0; r < NRV; ++r) acc[c][i][r] = O::zero();
    const std::uint32_t full = D / 4 * 4;
    for (std::uint32_t d = 0; d < full; d += 4) {
#pragma GCC unroll 4
      for (unsigned c = 0; c < 4; ++c) step<NRV>(qt, k, D, d + c, acc[c]);
    }
    // D % 4 last dimensions, to chains 0, 1, 2.
    if (full + 0 < D) step<NRV>(qt, k, D, full + 0, acc[0]);
    if (full + 1 < D) step<NRV>(qt, k, D, full + 1, acc[1]);
    if (full + 2 < D) step<NRV>(qt, k, D, full + 2, acc[2]);
#pragma GCC unroll 64
    for (unsigned i = 0; i < NP; ++i) {
#pragma GCC unroll 8
      for (unsigned r = 0; r < NRV; ++r) {
        const V sum =
            O::add(O::add(acc[0][i][r], acc[1][i][r]), O::add(acc[2][i][r], acc[3][i][r]));
        O::store(s + i * kTileRows + r * kLanes, sum);
      }
    }
  }

  // One dimension d of a score step, into one chain's accumulators.
  template <unsigned NRV>
  [[gnu::always_inline]] static inline void step(const float* qt, const float* k, std::uint32_t D,
                                                 std::uint32_t d, V (&acc)[NP][NRV]) {
    V q[NRV];
#pragma GCC unroll 8
    for (unsigned r = 0; r < NRV; ++r) q[r] = O::load(qt + std::size_t{d} * kTileRows + r * kLanes);
#pragma GCC unroll 64
    for (unsigned i = 0; i < NP; ++i) {
      const V kb = O::bcast(k + std::size_t{i} * D + d);
#pragma GCC unroll 8
      for (unsigned r = 0; r < NRV; ++r) acc[i][r] = O::fma(q[r], kb, acc[i][r]);
    }
  }

  // W output columns (values v[i * D + j], j < W) of `count` positions, folded into the running
  // output: ot[j][row] = fma(oc, b, ot * a).
  template <unsigned NRV, unsigned W>
  [[gnu::noinline]] static void values(const float* s, std::uint32_t count, const float* v,
                                       std::uint32_t D, float* ot, const float* fa,
                                       const float* fb) {
    V acc[W][NRV];
#pragma GCC unroll 64
    for (unsigned j = 0; j < W; ++j)
#pragma GCC unroll 8
      for (unsigned r = 0; r < NRV; ++r) acc[j][r] = O::zero();
    for (std::uint32_t i = 0; i < count; ++i) {
      V e[NRV];
#pragma GCC unroll 8
      for (unsigned r = 0; r < NRV; ++r) e[r] = O::load(s + i * kTileRows + r * kLanes);
      const float* vi = v + std::size_t{i} * D;
#pragma GCC unroll 64
      for (unsigned j = 0; j < W; ++j) {
        const V vb = O::bcast(vi + j);
#pragma GCC unroll 8
        for (unsigned r = 0; r < NRV; ++r) acc[j][r] = O::fma(e[r], vb, acc[j][r]);
      }
    }
#pragma GCC unroll 8
    for (unsigned r = 0; r < NRV; ++r) {
      const V a = O::load(fa + r * kLanes), b = O::load(fb + r * kLanes);
#pragma GCC unroll 64
      for (unsigned j = 0; j < W; ++j) {
        float* o = ot + j * kTileRows + r * kLanes;
        O::store(o, O::fma(acc[j][r], b, O::mul(O::load(o), a)));
      }
    }
  }

  // The columns [j, D) left after the NJ-wide steps (fewer than NJ): W, W/2, ..., 1 at a time.
  template <unsigned NRV, unsigned W>
  static void value_tail(const float* s, std::uint32_t count, const float* v, std::uint32_t D,
                         float* ot, const float* fa, const float* fb, std::uint32_t j) {
    if constexpr (W >= 1) {
      if (j + W <= D) {
        values<NRV, W>(s, count, v + j, D, ot + std::size_t{j} * kTileRows, fa, fb);
        j += W;
      }
      value_tail<NRV, W / 2>(s, count, v, D, ot, fa, fb, j);
    }
  }

  // Rows [r0, r0 + rows), rows <= NRV * kLanes.
  template <unsigned NRV>
  static void tile(const AttentionArgs& a, std::uint32_t r0, std::uint32_t rows, float* ws) {
    const std::uint32_t D = a.head_dim;
    const std::size_t R = kTileRows;
    float* qt = ws;
    float* ot = qt + D * R;
    float* s = ot + D * R;
    float* run_max = s + kChunk * R;
    float* run_sum = run_max + R;
    float* fa = run_sum + R;
    float* fb = fa + R;
    std::int32_t* limit = reinterpret_cast<std::int32_t*>(fb + R);
    float* kpad = reinterpret_cast<float*>(limit + R);
    float* wide = kpad + NP * std::size_t{D};  // a float16 chunk's keys, then its values
    const float minus_inf = -__builtin_huge_valf();

    // The tile's rows: queries transposed and scaled, the last position each attends to. Lanes
    // past `rows` get zero queries and attend to everything (finite scores, results unused).
    for (unsigned i = 0; i < NRV * kLanes; ++i) {
      if (i < rows) {
        const std::uint32_t row = r0 + i, t = row / a.group, h = row % a.group;
        const float* q = a.q + t * a.q_stride + std::size_t{h} * D;
        for (std::uint32_t d = 0; d < D; ++d) qt[d * R + i] = q[d] * a.scale;
        limit[i] = biased_position(a.pos0 + t);
      } else {
        for (std::uint32_t d = 0; d < D; ++d) qt[d * R + i] = 0.0f;
        limit[i] = biased_position(0xffffffffu);
      }
    }
    for (unsigned r = 0; r < NRV; ++r) {
      O::store(run_max + r * kLanes, O::set1(minus_inf));
      O::store(run_sum + r * kLanes, O::zero());
      for (std::uint32_t j = 0; j < D; ++j) O::store(ot + j * R + r * kLanes, O::zero());
    }

    const std::uint32_t t_first = r0 / a.group, t_last = (r0 + rows - 1) / a.group;
    const std::uint64_t end = std::uint64_t{a.pos0} + t_last + 1;       // positions read
    const std::uint64_t unmasked = std::uint64_t{a.pos0} + t_first + 1;  // valid for every row
    for (std::uint64_t p0 = 0; p0 < end; p0 += kChunk) {
      const std::uint32_t count =
          static_cast<std::uint32_t>(end - p0 < kChunk ? end - p0 : kChunk);
      const float* kc = chunk_rows<O>(a.k, a.kv_type, p0, count, D, wide);

      // Scores, NP positions at a time; a last step of fewer reads a zero-padded copy of its
      // keys (the padding positions are past every row's limit, so they are masked below).
      for (std::uint32_t i = 0; i < count; i += NP) {
        const float* k = kc + std::size_t{i} * D;
        if (count - i < NP) {
          const std::size_t have = std::size_t{count - i} * D;
          for (std::size_t x = 0; x < NP * std::size_t{D}; ++x) kpad[x] = x < have ? k[x] : 0.0f;
          k = kpad;
        }
        scores<NRV>(qt, k, D, s + i * R);
      }

      // Softmax of the chunk, lane by lane: mask, maximum, numerators and their sum, and the
      // factors that fold the chunk into the running result.
      const bool masked = p0 + count > unmasked;
      for (unsigned r = 0; r < NRV; ++r) {
        float* sr = s + r * kLanes;
        V m_c = O::set1(minus_inf);
        for (std::uint32_t i = 0; i < count; ++i) {
          V x = O::load(sr + i * R);
          if (masked) {
            x = O::masked_after(x, limit + r * kLanes, static_cast<std::uint32_t>(p0 + i));
            O::store(sr + i * R, x);
          }
          m_c = O::max(m_c, x);
        }
        V l_c = O::zero();
        for (std::uint32_t i = 0; i < count; ++i) {
          const V e = contract_exp<O>(O::sub(O::load(sr + i * R), m_c));
          O::store(sr + i * R, e);
          l_c = O::add(l_c, e);
        }
        const V M = O::load(run_max + r * kLanes);
        const V m = O::max(M, m_c);
        const V fold_a = contract_exp<O>(O::sub(M, m)), fold_b = contract_exp<O>(O::sub(m_c, m));
        O::store(run_max + r * kLanes, m);
        O::store(run_sum + r * kLanes,
                 O::fma(l_c, fold_b, O::mul(O::load(run_sum + r * kLanes), fold_a)));
        O::store(fa + r * kLanes, fold_a);
        O::store(fb + r * kLanes, fold_b);
      }

      // Weighted sum of the chunk's values, NJ columns at a time, folded into the output.
      const float* v = chunk_rows<O>(a.v, a.kv_type, p0, count, D, wide);  // keys are done
      std::uint32_t j = 0;
      for (; j + NJ <= D; j += NJ) values<NRV, NJ>(s, count, v + j, D, ot + j * R, fa, fb);
      value_tail<NRV, NJ / 2>(s, count, v, D, ot, fa, fb, j);
    }

    // out = o / L, transposed back into the rows.
    for (unsigned r = 0; r < NRV; ++r) {
      const V sum = O::load(run_sum + r * kLanes);
      for (std::uint32_t j = 0; j < D; ++j) {
        float* o = ot + j * R + r * kLanes;
        O::store(o, O::div(O::load(o), sum));
      }
    }
    for (std::uint32_t i = 0; i < rows; ++i) {
      const std::uint32_t row = r0 + i, t = row / a.group, h = row % a.group;
      float* out = a.out + t * a.out_stride + std::size_t{h} * D;
      for (std::uint32_t j = 0; j < D; ++j) out[j] = ot[j * R + i];
    }
  }

  static void run(const AttentionArgs& a, std::uint32_t row_begin, std::uint32_t row_end,
                  void* workspace) {
    float* ws = static_cast<float*>(workspace);
    for (std::uint32_t r0 = row_begin; r0 < row_end; r0 += kTileRows) {
      const std::uint32_t rows = row_end - r0 < kTileRows ? row_end - r0 : kTileRows;
      const unsigned nrv = (rows + kLanes - 1) / kLanes;
      dispatch<NRV_MAX>(a, r0, rows, nrv, ws);
    }
  }

  // tile<nrv>() for a run-time nrv in [1, NRV_MAX].
  template <unsigned N>
  static void dispatch(const AttentionArgs& a, std::uint32_t r0, std::uint32_t rows, unsigned nrv,
                       float* ws) {
    if constexpr (N >= 1) {
      if (nrv == N) {
        tile<N>(a, r0, rows, ws);
        return;
      }
      dispatch<N - 1>(a, r0, rows, nrv, ws);
    }
  }
};

// Decoding: one chunk of positions for a few rows (the group's heads of one token), as the
// contract's per-chunk quantities, and their fold. The rows are few, so here the positions are the
// lanes: the chunk's keys are transposed once into kt[d][p] (kLanes x kLanes blocks in
// registers, O::transpose), then
//   scores:  s[row][p]  = sum_d qs[row][d] * kt[d][p]   (one load of kt[d] per vector of
//            positions, one broadcast of qs[row][d] per row: GR rows x PVB position vectors x 4
//            chains of accumulators)
//   values:  oc[row][j] = sum_p e[row][p] * v[p][j]     (the values' own layout: one load of
//            v[p] per vector of columns, one broadcast of e[row][p] per row: GR rows x JV column
//            vectors of accumulators)
// and a row's maximum and sum are scalar loops over its 64 numerators (the sum in position order,
// as the contract has it). Every lane computes the contract's operations for its (row, position)
// or (row, column), so the results are the bits of run().
//
// Ops also provides transpose(V* r): r[0..kLanes) as the rows of a kLanes x kLanes block, in
// place, becomes its columns.
template <class O, unsigned GR, unsigned PVB, unsigned JV>
struct ChunkedDecode {
  using V = typename O::V;
  static constexpr unsigned kLanes = O::kLanes;
  static constexpr unsigned kChunk = kAttentionChunk;
  static constexpr unsigned kPass = PVB * kLanes;  // positions per score pass
  static_assert(kChunk % kPass == 0, "score passes tile the chunk");

  // Workspace, in floats: kt[D][kChunk], qs[GR][D], e[GR][kChunk], one kLanes x kLanes block,
  // then kChunk rows of a float16 cache's chunk widened: its keys until they are transposed, then
  // its values.
  static std::size_t workspace_size(std::uint32_t head_dim) {
    return (std::size_t{head_dim} * kChunk + GR * std::size_t{head_dim} + GR * kChunk +
            kLanes * kLanes + std::size_t{kChunk} * head_dim) *
           sizeof(float);
  }

  static float first_lane(V x) {
    float lanes[kLanes];
    O::store(lanes, x);
    return lanes[0];
  }

  // Scores of kPass positions (kt columns [p, p + kPass)) for NR rows of scaled queries.
  template <unsigned NR>
  [[gnu::noinline]] static void scores(const float* qs, const float* kt, std::uint32_t D,
                                       std::uint32_t p, float* e) {
    V acc[4][NR][PVB];
#pragma GCC unroll 4
    for (unsigned c = 0; c < 4; ++c)
#pragma GCC unroll 8
      for (unsigned h = 0; h < NR; ++h)
#pragma GCC unroll 8
        for (unsigned v = 0; v < PVB; ++v) acc[c][h][v] = O::zero();
    const std::uint32_t full = D / 4 * 4;
    for (std::uint32_t d = 0; d < full; d += 4) {
#pragma GCC unroll 4
      for (unsigned c = 0; c < 4; ++c) step<NR>(qs, kt, D, p, d + c, acc[c]);
    }
    if (full + 0 < D) step<NR>(qs, kt, D, p, full + 0, acc[0]);
    if (full + 1 < D) step<NR>(qs, kt, D, p, full + 1, acc[1]);
    if (full + 2 < D) step<NR>(qs, kt, D, p, full + 2, acc[2]);
#pragma GCC unroll 8
    for (unsigned h = 0; h < NR; ++h) {
#pragma GCC unroll 8
      for (unsigned v = 0; v < PVB; ++v) {
        const V sum =
            O::add(O::add(acc[0][h][v], acc[1][h][v]), O::add(acc[2][h][v], acc[3][h][v]));
        O::store(e + h * kChunk + p + v * kLanes, sum);
      }
    }
  }

  template <unsigned NR>
  [[gnu::always_inline]] static inline void step(const float* qs, const float* kt, std::uint32_t D,
                                                 std::uint32_t p, std::uint32_t d,
                                                 V (&acc)[NR][PVB]) {
    V k[PVB];
#pragma GCC unroll 8
    for (unsigned v = 0; v < PVB; ++v) k[v] = O::load(kt + std::size_t{d} * kChunk + p + v * kLanes);
#pragma GCC unroll 8
    for (unsigned h = 0; h < NR; ++h) {
      const V q = O::bcast(qs + std::size_t{h} * D + d);
#pragma GCC unroll 8
      for (unsigned v = 0; v < PVB; ++v) acc[h][v] = O::fma(q, k[v], acc[h][v]);
    }
  }

  // W vectors of columns (values v[p * D + j]) of positions [0, count) for NR rows:
  // oc[h][j] (partials at `out`, rows `stride` floats apart).
  template <unsigned NR, unsigned W>
  [[gnu::noinline]] static void values(const float* e, std::uint32_t count, const float* v,
                                       std::uint32_t D, float* out, std::size_t stride) {
    V acc[NR][W];
#pragma GCC unroll 8
    for (unsigned h = 0; h < NR; ++h)
#pragma GCC unroll 8
      for (unsigned j = 0; j < W; ++j) acc[h][j] = O::zero();
    for (std::uint32_t p = 0; p < count; ++p) {
      V x[W];
#pragma GCC unroll 8
      for (unsigned j = 0; j < W; ++j) x[j] = O::load(v + std::size_t{p} * D + j * kLanes);
#pragma GCC unroll 8
      for (unsigned h = 0; h < NR; ++h) {
        const V w = O::bcast(e + h * kChunk + p);
#pragma GCC unroll 8
        for (unsigned j = 0; j < W; ++j) acc[h][j] = O::fma(w, x[j], acc[h][j]);
      }
    }
#pragma GCC unroll 8
    for (unsigned h = 0; h < NR; ++h)
#pragma GCC unroll 8
      for (unsigned j = 0; j < W; ++j) O::store(out + h * stride + j * kLanes, acc[h][j]);
  }

  // Columns [j, D): vectors W, W/2, ..., 1 at a time, then the last D % kLanes one by one.
  template <unsigned NR, unsigned W>
  static void value_tail(const float* e, std::uint32_t count, const float* v, std::uint32_t D,
                         float* out, std::size_t stride, std::uint32_t j) {
    if constexpr (W >= 1) {
      if (j + W * kLanes <= D) {
        values<NR, W>(e, count, v + j, D, out + j, stride);
        j += W * kLanes;
      }
      value_tail<NR, W / 2>(e, count, v, D, out, stride, j);
    } else {
      for (; j < D; ++j) {
        for (unsigned h = 0; h < NR; ++h) {
          float o = 0.0f;
          for (std::uint32_t p = 0; p < count; ++p)
            o = __builtin_fmaf(e[h * kChunk + p], v[std::size_t{p} * D + j], o);
          out[h * stride + j] = o;
        }
      }
    }
  }

  // Keys of positions [p0, p0 + count) into kt[d][p - p0], kLanes x kLanes blocks at a time; a
  // block that is not whole (the chunk's end, or D % kLanes) goes through a zero-padded copy, so
  // nothing past the last position or a row's end is read. Columns up to the next score pass are
  // zero.
  static void transpose_keys(const float* k, std::uint32_t D, std::uint32_t count, float* kt,
                             float* block) {
    for (std::uint32_t p = 0; p < count; p += kLanes) {
      const std::uint32_t np = count - p < kLanes ? count - p : kLanes;
      for (std::uint32_t d0 = 0; d0 < D; d0 += kLanes) {
        const std::uint32_t nd = D - d0 < kLanes ? D - d0 : kLanes;
        V r[kLanes];
        if (np == kLanes && nd == kLanes) {
          for (unsigned i = 0; i < kLanes; ++i) r[i] = O::load(k + std::size_t{p + i} * D + d0);
        } else {
          for (unsigned i = 0; i < kLanes; ++i)
            for (unsigned x = 0; x < kLanes; ++x)
              block[i * kLanes + x] = i < np && x < nd ? k[std::size_t{p + i} * D + d0 + x] : 0.0f;
          for (unsigned i = 0; i < kLanes; ++i) r[i] = O::load(block + i * kLanes);
        }
        O::transpose(r);
        for (unsigned x = 0; x < nd; ++x) O::store(kt + std::size_t{d0 + x} * kChunk + p, r[x]);
      }
    }
    const std::uint32_t filled = (count + kLanes - 1) / kLanes * kLanes;
    const std::uint32_t passes = (count + kPass - 1) / kPass * kPass;
    for (std::uint32_t d = 0; d < D; ++d)
      for (std::uint32_t p = filled; p < passes; p += kLanes)
        O::store(kt + std::size_t{d} * kChunk + p, O::zero());
  }

  // Rows [r0, r0 + NR) of one chunk (positions [p0, p0 + count), values vc[(p - p0) * D]).
  template <unsigned NR>
  static void rows(const AttentionArgs& a, std::uint32_t r0, std::uint64_t p0,
                   std::uint32_t count, const float* kt, const float* vc, float* qs, float* e,
                   float* part, std::size_t stride) {
    const std::uint32_t D = a.head_dim;
    const float minus_inf = -__builtin_huge_valf();
    std::uint32_t valid[NR], most = 0;
    for (unsigned h = 0; h < NR; ++h) {
      const std::uint32_t row = r0 + h, t = row / a.group, hd = row % a.group;
      const float* q = a.q + t * a.q_stride + std::size_t{hd} * D;
      for (std::uint32_t d = 0; d < D; ++d) qs[h * D + d] = q[d] * a.scale;
      const std::uint64_t last = std::uint64_t{a.pos0} + t;  // the row's last position
      valid[h] = last < p0 ? 0 : last - p0 + 1 < count ? std::uint32_t(last - p0 + 1) : count;
      if (valid[h] > most) most = valid[h];
    }
    for (std::uint32_t p = 0; p < most; p += kPass) scores<NR>(qs, kt, D, p, e);
    for (unsigned h = 0; h < NR; ++h) {
      float* eh = e + h * kChunk;
      float* out = part + h * stride;
      float m_c = minus_inf, l_c = 0.0f;
      for (std::uint32_t p = 0; p < valid[h]; ++p) m_c = eh[p] > m_c ? eh[p] : m_c;
      for (std::uint32_t p = 0; p < valid[h]; p += kLanes)
        O::store(eh + p, contract_exp<O>(O::sub(O::load(eh + p), O::set1(m_c))));
      for (std::uint32_t p = valid[h]; p < kChunk; ++p) eh[p] = 0.0f;
      for (std::uint32_t p = 0; p < valid[h]; ++p) l_c = l_c + eh[p];
      out[D] = m_c;
      out[D + 1] = l_c;
    }
    std::uint32_t j = 0;
    for (; j + JV * kLanes <= D; j += JV * kLanes)
      values<NR, JV>(e, most, vc + j, D, part + j, stride);
    value_tail<NR, JV / 2>(e, most, vc, D, part, stride, j);
  }

  template <unsigned N>
  static void dispatch(unsigned nr, const AttentionArgs& a, std::uint32_t r0, std::uint64_t p0,
                       std::uint32_t count, const float* kt, const float* vc, float* qs, float* e,
                       float* part, std::size_t stride) {
    if constexpr (N >= 1) {
      if (nr == N) {
        rows<N>(a, r0, p0, count, kt, vc, qs, e, part, stride);
        return;
      }
      dispatch<N - 1>(nr, a, r0, p0, count, kt, vc, qs, e, part, stride);
    }
  }

  static void chunk_partials(const AttentionArgs& a, std::uint32_t row_begin,
                             std::uint32_t row_end, std::uint32_t chunk, float* partials,
                             void* workspace) {
    const std::uint32_t D = a.head_dim;
    const std::size_t stride = std::size_t{D} + 2;
    float* kt = static_cast<float*>(workspace);
    float* qs = kt + std::size_t{D} * kChunk;
    float* e = qs + GR * std::size_t{D};
    float* block = e + GR * kChunk;
    float* wide = block + kLanes * kLanes;  // a float16 chunk's keys, then its values
    const std::uint64_t p0 = std::uint64_t{chunk} * kChunk;
    const std::uint64_t end = std::uint64_t{a.pos0} + (row_end - 1) / a.group + 1;
    const std::uint32_t count =
        p0 >= end ? 0 : static_cast<std::uint32_t>(end - p0 < kChunk ? end - p0 : kChunk);
    const float* vc = nullptr;
    if (count > 0) {
      // At a decoding depth of hundreds of positions the keys and values come from L3 or DRAM:
      // the chunk's values are fetched (into L1) while its keys are transposed, and the next
      // chunk's keys and values (the caller's next unit; into L2) while this one is computed.
      // One prefetch per 64-byte line of the cache's elements.
      const std::size_t row_bytes = D * kv_element_bytes(a.kv_type);
      const char* v = static_cast<const char*>(a.v) + p0 * row_bytes;
      for (std::size_t x = 0; x < count * row_bytes; x += 64) __builtin_prefetch(v + x);
      if (p0 + kChunk < end) {
        const char* next_k = static_cast<const char*>(a.k) + (p0 + kChunk) * row_bytes;
        const char* next_v = static_cast<const char*>(a.v) + (p0 + kChunk) * row_bytes;
        const std::uint64_t rows = end - p0 - kChunk < kChunk ? end - p0 - kChunk : kChunk;
        for (std::size_t x = 0; x < rows * row_bytes; x += 64) {
          __builtin_prefetch(next_k + x, 0, 2);
          __builtin_prefetch(next_v + x, 0, 2);
        }
      }
      transpose_keys(chunk_rows<O>(a.k, a.kv_type, p0, count, D, wide), D, count, kt, block);
      vc = chunk_rows<O>(a.v, a.kv_type, p0, count, D, wide);  // the keys are in kt now
    }
    for (std::uint32_t r0 = row_begin; r0 < row_end; r0 += GR) {
      const unsigned nr = row_end - r0 < GR ? row_end - r0 : GR;
      float* part = partials + std::size_t{r0 - row_begin} * stride;
      if (count == 0) {  // past every row: contributes nothing
        for (unsigned h = 0; h < nr; ++h) {
          for (std::uint32_t j = 0; j < D; ++j) part[h * stride + j] = 0.0f;
          part[h * stride + D] = -__builtin_huge_valf();
          part[h * stride + D + 1] = 0.0f;
        }
        continue;
      }
      dispatch<GR>(nr, a, r0, p0, count, kt, vc, qs, e, part, stride);
    }
  }

  static void fold_partials(const AttentionArgs& a, std::uint32_t row_begin,
                            std::uint32_t row_end, std::uint32_t chunks, const float* partials) {
    const std::uint32_t D = a.head_dim, n = row_end - row_begin;
    const std::size_t stride = std::size_t{D} + 2;
    const std::uint32_t full = D / kLanes * kLanes;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t row = row_begin + i, t = row / a.group, h = row % a.group;
      float* o = a.out + t * a.out_stride + std::size_t{h} * D;
      float M = -__builtin_huge_valf();
      V L = O::zero();
      for (std::uint32_t j = 0; j < D; ++j) o[j] = 0.0f;
      for (std::uint32_t c = 0; c < chunks; ++c) {
        const float* part = partials + (std::size_t{c} * n + i) * stride;
        const float m_c = part[D], l_c = part[D + 1];
        const float m = m_c > M ? m_c : M;
        const V fa = contract_exp<O>(O::set1(M - m)), fb = contract_exp<O>(O::set1(m_c - m));
        L = O::fma(O::set1(l_c), fb, O::mul(L, fa));
        for (std::uint32_t j = 0; j < full; j += kLanes)
          O::store(o + j, O::fma(O::load(part + j), fb, O::mul(O::load(o + j), fa)));
        const float sa = first_lane(fa), sb = first_lane(fb);
        for (std::uint32_t j = full; j < D; ++j) o[j] = __builtin_fmaf(part[j], sb, o[j] * sa);
        M = m;
      }
      for (std::uint32_t j = 0; j < full; j += kLanes) O::store(o + j, O::div(O::load(o + j), L));
      const float sl = first_lane(L);
      for (std::uint32_t j = full; j < D; ++j) o[j] = o[j] / sl;
    }
  }
};

}  // namespace
}  // namespace mobilellm::kernels
