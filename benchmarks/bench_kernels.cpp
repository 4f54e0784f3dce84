// Micro-benchmarks of the W8A8 kernels (kernels/kernels.hpp) on the shapes of real MobileLLM
// layers, next to the machine's own limits, measured the same way in the same run:
//   limits/read/dram            reads a 1 GB buffer: the memory bandwidth decode is bound by
//                               (one core; and two, timed by the wall clock);
//   limits/read/l3, limits/read/l2   reads an 8 MB / 512 KB buffer over and over: what the caches
//                               deliver to one core (the widest vector loads the CPU has);
//   limits/int8_peak/<isa>      a register-only loop of the ISA's int8 multiply-accumulate
//                               (vpdpbusd; vpmaddwd + vpaddd): the compute bound of prefill;
//   qgemv/<isa>/<layer>.<N>x<K>/hot    M = 1 on the canonical rows (as the model file holds
//                               them), the same matrix every call: resident in L2 (or L3);
//   qgemv/<isa>/<layer>.<N>x<K>/l3     cycling through matrices totalling 8 MB, so that each
//                               call reads its weights from L3 (the second application of a
//                               shared block in the layer-sharing models); matrices up to 4 MB;
//   qgemv/<isa>/<layer>.<N>x<K>/dram   cycling through matrices totalling 256 MB (8x the L3), so
//                               that every call streams its weights from memory, as decoding a
//                               whole model does; also on two threads splitting N (wall clock);
//   qgemm/<isa>/<layer>.<N>x<K>/M:<m>      the GEMM micro-kernel on a matrix packed beforehand;
//   qgemm_canonical/<isa>/<layer>.<N>x<K>/M:<m>  prefill as the runtime runs it: the driver
//                               qgemm_f32_canonical() packing panels of the canonical rows on the
//                               fly into its workspace.
// Counters: ops = 2 * M * N * K per second (multiply and add), weights = N * K weight bytes per
// second, bytes = bytes read per second. Rates are per CPU second of the benchmark thread (Google
// Benchmark's default), which on a shared machine is the code's own speed, except the two-thread
// runs. Only variants this CPU supports are registered; the others are listed on stderr. At the
// end, a summary puts every kernel next to the limit it is bound by (medians when repeated).
// Usage and results: benchmarks/README.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/kernels.hpp"

namespace {

namespace kern = mobilellm::kernels;

constexpr std::size_t kStreamBytes = std::size_t{1} << 30;  // 1 GB
constexpr std::size_t kColdBytes = std::size_t{256} << 20;  // 8x the 32 MB L3 of the test VM
constexpr std::size_t kL3Bytes = std::size_t{8} << 20;      // 8x the 1 MB L2, 1/4 of the L3
constexpr std::size_t kL3MaxMatrix = std::size_t{4} << 20;  // larger: "hot" is from L3 already
constexpr std::size_t kL2Bytes = std::size_t{512} << 10;
constexpr std::size_t kPageAlignment = std::size_t{2} << 20;

// Large, page-aligned, zero-filled (so touched: no page faults while timing) and, on Linux,
// advised to use transparent huge pages, so that TLB misses do not hide the bandwidth.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::uint8_t, FreeDeleter>;

Buffer allocate(std::size_t bytes) {
  const std::size_t rounded = (bytes + kPageAlignment - 1) / kPageAlignment * kPageAlignment;
  auto* p = static_cast<std::uint8_t*>(std::aligned_alloc(kPageAlignment, rounded));
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__)
  madvise(p, rounded, MADV_HUGEPAGE);
#endif
  std::memset(p, 0, rounded);
  return Buffer(p);
}

struct Shape {
  const char* layer;
  std::uint32_t n, k;
};

// N x K of every linear layer of MobileLLM-125M, -350M and -1B, and their output heads.
const Shape kShapes[] = {
    {"125M.qo", 576, 576},      {"125M.kv", 192, 576},       {"125M.gate_up", 1536, 576},
    {"125M.down", 576, 1536},   {"125M.head", 32000, 576},   {"350M.qo", 960, 960},
    {"350M.kv", 320, 960},      {"350M.gate_up", 2560, 960}, {"350M.down", 960, 2560},
    {"350M.head", 32000, 960},  {"1B.qo", 1280, 1280},       {"1B.kv", 320, 1280},
    {"1B.gate_up", 3584, 1280}, {"1B.down", 1280, 3584},     {"1B.head", 32000, 1280},
};

bool is_head(const Shape& s) { return s.n == 32000; }
std::size_t weight_bytes(const Shape& s) { return std::size_t{s.n} * s.k; }

std::string shape_name(const Shape& s) {
  return std::string(s.layer) + "." + std::to_string(s.n) + "x" + std::to_string(s.k);
}

void set_counters(benchmark::State& state, std::uint32_t m, const Shape& s, double share = 1.0) {
  const double macs = static_cast<double>(m) * s.n * s.k * share;
  state.counters["ops"] =
      benchmark::Counter(2 * macs, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weights"] = benchmark::Counter(static_cast<double>(weight_bytes(s)) * share,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Random bytes, 8 per step of a xorshift generator (hundreds of MB are filled once).
void fill_random(std::uint8_t* p, std::size_t bytes, std::uint64_t seed) {
  std::uint64_t x = seed | 1;
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(p + i, &x, 8);
  }
}

// The weights every benchmark reads: kColdBytes of random bytes plus room for the largest matrix,
// filled once. A matrix of a shape is any slice of it on a 64-byte boundary (canonical rows, N
// rows of K bytes, as the model file stores them); the decode benchmarks cycle through
// consecutive slices to read their weights from L3 or from memory.
constexpr std::size_t kLargestMatrix = std::size_t{32000} * 1280;

const std::uint8_t* weight_pool() {
  static const Buffer pool = [] {
    Buffer b = allocate(kColdBytes + kLargestMatrix);
    fill_random(b.get(), kColdBytes + kLargestMatrix, 42);
    return b;
  }();
  return pool.get();
}

// Consecutive matrices of one shape, 64-byte aligned, at least two and at least `total` bytes.
struct Slices {
  std::size_t stride, count;
  const std::uint8_t* pool = weight_pool();  // made before any timing starts
  Slices(const Shape& s, std::size_t total)
      : stride((weight_bytes(s) + 63) / 64 * 64), count(std::max<std::size_t>(2, total / stride)) {}
  const std::int8_t* get(std::size_t i) const {
    return reinterpret_cast<const std::int8_t*>(pool + i * stride);
  }
};

// Quantized activations (random in [-127, 127], as the quantizer writes them) and the scales and
// outputs of one shape.
struct Operands {
  std::uint32_t m, n, k, a_stride;
  std::vector<std::int8_t> a;
  std::vector<float> a_scale, w_scale, c;

  Operands(const kern::QGemmVariant& v, std::uint32_t m_, const Shape& s)
      : m(m_), n(s.n), k(s.k), a_stride(kern::k_padded(s.k, v.kr)) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(-127, 127);
    a.assign(std::size_t{m} * a_stride, 0);
    for (std::uint32_t i = 0; i < m; ++i) {
      for (std::uint32_t j = 0; j < k; ++j)
        a[std::size_t{i} * a_stride + j] = static_cast<std::int8_t>(byte(rng));
    }
    a_scale.assign(m, 0.01f);
    w_scale.assign(n, 0.002f);
    c.assign(std::size_t{m} * n, 0.0f);
  }
};

// ----------------------------------------------------------------------------------- decode

// The matrix `total` = 0: the same slice every call (hot); else cycling through `total` bytes.
void bench_gemv(benchmark::State& state, const kern::QGemmVariant* v, Shape s, std::size_t total) {
  Operands op(*v, 1, s);
  const Slices slices(s, total);
  const std::size_t count = total == 0 ? 1 : slices.count;
  std::size_t next = 0;
  for (auto _ : state) {
    v->gemv_f32(0, op.n, op.k, op.a.data(), op.a_scale[0], slices.get(next), op.k,
                op.w_scale.data(), op.c.data());
    benchmark::ClobberMemory();
    next = next + 1 == count ? 0 : next + 1;
  }
  set_counters(state, 1, s);
}

// Two threads, each computing its half of the columns (split on an nr boundary, as the runtime
// splits them) of the same matrices, cycling through the DRAM slices in step. Each thread has its
// own operands; they write disjoint halves of their outputs.
void bench_gemv_dram_2t(benchmark::State& state, const kern::QGemmVariant* v, Shape s) {
  Operands op(*v, 1, s);
  const Slices slices(s, kColdBytes);
  const std::uint32_t half = std::min(s.n, (s.n / 2 + v->nr - 1) / v->nr * v->nr);
  const std::uint32_t begin = state.thread_index() == 0 ? 0 : half;
  const std::uint32_t end = state.thread_index() == 0 ? half : s.n;
  std::size_t next = 0;
  for (auto _ : state) {
    v->gemv_f32(begin, end, op.k, op.a.data(), op.a_scale[0], slices.get(next), op.k,
                op.w_scale.data(), op.c.data());
    benchmark::ClobberMemory();
    next = next + 1 == slices.count ? 0 : next + 1;
  }
  set_counters(state, 1, s, 0.5);
}

// ---------------------------------------------------------------------------------- prefill

void bench_gemm(benchmark::State& state, const kern::QGemmVariant* v, Shape s, std::uint32_t m) {
  Operands op(*v, m, s);
  Buffer packed = allocate(v->packed_size(op.n, op.k));
  v->pack(op.n, op.k, Slices(s, 0).get(0), packed.get());
  for (auto _ : state) {
    v->gemm_f32(m, 0, op.n, op.k, op.a.data(), op.a_stride, op.a_scale.data(), packed.get(),
                op.w_scale.data(), op.c.data(), op.n);
    benchmark::ClobberMemory();
  }
  set_counters(state, m, s);
}

void bench_gemm_canonical(benchmark::State& state, const kern::QGemmVariant* v, Shape s,
                          std::uint32_t m) {
  Operands op(*v, m, s);
  Buffer workspace = allocate(kern::qgemm_workspace_size(*v, op.k));
  for (auto _ : state) {
    kern::qgemm_f32_canonical(*v, m, 0, op.n, op.k, op.a.data(), op.a_stride, op.a_scale.data(),
                              Slices(s, 0).get(0), op.k, op.w_scale.data(), workspace.get(),
                              op.c.data(), op.n);
    benchmark::ClobberMemory();
  }
  set_counters(state, m, s);
}

// ------------------------------------------------------------------------- the machine's limits

const std::uint8_t* stream_buffer() {
  static const Buffer buffer = allocate(kStreamBytes);
  return buffer.get();
}

// Sums `bytes` (a multiple of 512) as 64-bit words with 8 independent vector sums: plain
// streaming reads, with the widest loads the CPU has.
std::uint64_t read_baseline(const std::uint8_t* p, std::size_t bytes) {
  const auto* words = reinterpret_cast<const std::uint64_t*>(p);
  std::uint64_t s[8] = {};
  for (std::size_t i = 0; i < bytes / 8; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += words[i + static_cast<std::size_t>(j)];
  }
  std::uint64_t total = 0;
  for (const std::uint64_t x : s) total += x;
  return total;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) std::uint64_t read_avx512(const std::uint8_t* p,
                                                             std::size_t bytes) {
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0,
          s7 = s0;
  for (std::size_t i = 0; i < bytes; i += 512) {
    s0 = _mm512_add_epi64(s0, _mm512_load_si512(p + i));
    s1 = _mm512_add_epi64(s1, _mm512_load_si512(p + i + 64));
    s2 = _mm512_add_epi64(s2, _mm512_load_si512(p + i + 128));
    s3 = _mm512_add_epi64(s3, _mm512_load_si512(p + i + 192));
    s4 = _mm512_add_epi64(s4, _mm512_load_si512(p + i + 256));
    s5 = _mm512_add_epi64(s5, _mm512_load_si512(p + i + 320));
    s6 = _mm512_add_epi64(s6, _mm512_load_si512(p + i + 384));
    s7 = _mm512_add_epi64(s7, _mm512_load_si512(p + i + 448));
  }
  const __m512i s =
      _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)),
                       _mm512_add_epi64(_mm512_add_epi64(s4, s5), _mm512_add_epi64(s6, s7)));
  alignas(64) std::uint64_t lanes[8];
  _mm512_store_si512(lanes, s);
  std::uint64_t total = 0;
  for (const std::uint64_t x : lanes) total += x;
  return total;
}

__attribute__((target("avx2"))) std::uint64_t read_avx2(const std::uint8_t* p, std::size_t bytes) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0,
          s7 = s0;
  for (std::size_t i = 0; i < bytes; i += 256) {
    s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    s4 = _mm256_add_epi64(s4, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 128)));
    s5 = _mm256_add_epi64(s5, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 160)));
    s6 = _mm256_add_epi64(s6, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 192)));
    s7 = _mm256_add_epi64(s7, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 224)));
  }
  const __m256i s =
      _mm256_add_epi64(_mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)),
                       _mm256_add_epi64(_mm256_add_epi64(s4, s5), _mm256_add_epi64(s6, s7)));
  alignas(32) std::uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

using ReadFn = std::uint64_t (*)(const std::uint8_t*, std::size_t);

ReadFn read_function() {
#if defined(__x86_64__)
  const kern::CpuFeatures& cpu = kern::cpu_features();
  if (cpu.avx512f) return read_avx512;
  if (cpu.avx2) return read_avx2;
#endif
  return read_baseline;
}

// Each thread reads its share of the 1 GB buffer.
void bench_read_dram(benchmark::State& state) {
  const std::size_t share = kStreamBytes / static_cast<std::size_t>(state.threads());
  const std::uint8_t* p = stream_buffer() + share * static_cast<std::size_t>(state.thread_index());
  const ReadFn read = read_function();
  for (auto _ : state) benchmark::DoNotOptimize(read(p, share));
  state.counters["bytes"] =
      benchmark::Counter(static_cast<double>(share), benchmark::Counter::kIsIterationInvariantRate);
}

// A buffer of `bytes`, read over and over: it stays in the cache level it fits in.
void bench_read_cache(benchmark::State& state, std::size_t bytes) {
  const Buffer buffer = allocate(bytes);
  const ReadFn read = read_function();
  for (auto _ : state) benchmark::DoNotOptimize(read(buffer.get(), bytes));
  state.counters["bytes"] =
      benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kIsIterationInvariantRate);
}

#if defined(__x86_64__)
// The peak loops are written in assembly: with intrinsics the compiler is free to hoist the
// loop-invariant vpmaddwd, or to keep the accumulators in memory, and then measures something else.
constexpr long kPeakIterations = 1 << 16;

#define MOBILELLM_DPBUSD(acc) "vpdpbusd %%zmm16, %%zmm17, %%zmm" #acc "\n\t"

// 16 independent vpdpbusd chains on registers only: 16 x 64 multiply-adds per iteration.
__attribute__((target("avx512f,avx512vnni"))) void bench_peak_avx512vnni(benchmark::State& state) {
  for (auto _ : state) {
    long n = kPeakIterations;
    // clang-format off
    asm volatile(
        "1:\n\t"
        MOBILELLM_DPBUSD(0)  MOBILELLM_DPBUSD(1)  MOBILELLM_DPBUSD(2)  MOBILELLM_DPBUSD(3)
        MOBILELLM_DPBUSD(4)  MOBILELLM_DPBUSD(5)  MOBILELLM_DPBUSD(6)  MOBILELLM_DPBUSD(7)
        MOBILELLM_DPBUSD(8)  MOBILELLM_DPBUSD(9)  MOBILELLM_DPBUSD(10) MOBILELLM_DPBUSD(11)
        MOBILELLM_DPBUSD(12) MOBILELLM_DPBUSD(13) MOBILELLM_DPBUSD(14) MOBILELLM_DPBUSD(15)
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [n] "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
    // clang-format on
  }
  state.counters["ops"] = benchmark::Counter(2.0 * 16 * 64 * kPeakIterations,
                                             benchmark::Counter::kIsIterationInvariantRate);
}

// clang-format off
#define MOBILELLM_MADD_ADD(acc, tmp)                       \
  "vpmaddwd %%ymm14, %%ymm15, %%ymm" #tmp "\n\t"            \
  "vpaddd %%ymm" #tmp ", %%ymm" #acc ", %%ymm" #acc "\n\t"
// clang-format on

// 12 independent vpmaddwd + vpaddd chains (the AVX2 kernels' inner step without the widening
// loads) on registers only: 12 x 16 multiply-adds per iteration.
__attribute__((target("avx2"))) void bench_peak_avx2(benchmark::State& state) {
  for (auto _ : state) {
    long n = kPeakIterations;
    // clang-format off
    asm volatile(
        "1:\n\t"
        MOBILELLM_MADD_ADD(0, 12) MOBILELLM_MADD_ADD(1, 13)  MOBILELLM_MADD_ADD(2, 12)
        MOBILELLM_MADD_ADD(3, 13) MOBILELLM_MADD_ADD(4, 12)  MOBILELLM_MADD_ADD(5, 13)
        MOBILELLM_MADD_ADD(6, 12) MOBILELLM_MADD_ADD(7, 13)  MOBILELLM_MADD_ADD(8, 12)
        MOBILELLM_MADD_ADD(9, 13) MOBILELLM_MADD_ADD(10, 12) MOBILELLM_MADD_ADD(11, 13)
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [n] "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "cc");
    // clang-format on
  }
  state.counters["ops"] = benchmark::Counter(2.0 * 12 * 16 * kPeakIterations,
                                             benchmark::Counter::kIsIterationInvariantRate);
}
#endif

// ---------------------------------------------------------------------------- the summary

// Records the counters of every run (the median when repetitions are aggregated) by run name,
// while printing as the console reporter does.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      const std::string name = run.run_name.str();
      if (!median && medians_.count(name) != 0) continue;
      if (median) medians_[name] = true;
      for (const auto& [counter, value] : run.counters) values_[name][counter] = value.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // Whether any run's name starts with `prefix`.
  bool has_prefix(const std::string& prefix) const {
    const auto it = values_.lower_bound(prefix);
    return it != values_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
  }

  // A counter of a run, or 0 when the run is absent (filtered out).
  double get(const std::string& name, const char* counter) const {
    const auto run = values_.find(name);
    if (run == values_.end()) return 0;
    const auto value = run->second.find(counter);
    return value == run->second.end() ? 0 : value->second;
  }

 private:
  std::map<std::string, std::map<std::string, double>> values_;
  std::map<std::string, bool> medians_;
};

// "12.3" (x / 1e9), or "-" for a run that did not happen.
std::string giga(double x) {
  if (x <= 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", x / 1e9);
  return text;
}

std::string giga_share(double x, double limit) {
  if (x <= 0) return "-";
  if (limit <= 0) return giga(x);
  char text[48];
  std::snprintf(text, sizeof text, "%.1f (%.0f%%)", x / 1e9, 100 * x / limit);
  return text;
}

constexpr std::uint32_t kGemmRows[] = {8, 64, 512};

// One table per variant and kind, one row per shape that ran.
void print_decode(const SummaryReporter& r, const kern::QGemmVariant& v, double dram, double dram2,
                  double l3) {
  std::printf(
      "\n%s, decode: weights GB/s (hot; l3, %% of the l3 read; dram, %% of the dram "
      "read; dram on two threads, %% of the two-thread read)\n",
      v.gemv_name);
  std::printf("| layer | N x K | hot | l3 | dram | dram, 2 threads |\n");
  std::printf("|---|---|---:|---:|---:|---:|\n");
  for (const Shape& s : kShapes) {
    const std::string base = std::string("qgemv/") + v.isa + "/" + shape_name(s);
    if (!r.has_prefix(base + "/")) continue;
    std::printf("| %s | %u x %u | %s | %s | %s | %s |\n", s.layer, s.n, s.k,
                giga(r.get(base + "/hot", "weights")).c_str(),
                giga_share(r.get(base + "/l3", "weights"), l3).c_str(),
                giga_share(r.get(base + "/dram", "weights"), dram).c_str(),
                giga_share(r.get(base + "/dram/real_time/threads:2", "weights"), dram2).c_str());
  }
}

void print_prefill(const SummaryReporter& r, const kern::QGemmVariant& v) {
  const std::string isa = v.isa;
  const double peak = r.get("limits/int8_peak/" + isa, "ops");
  std::printf(
      "\n%s, prefill: GOPS of the micro-kernel on a packed matrix and of the driver "
      "qgemm_f32_canonical (panels of %u columns), %% of the int8 peak\n",
      v.name, kern::qgemm_panel_columns(v));
  std::printf("| layer | N x K |");
  for (const std::uint32_t m : kGemmRows) std::printf(" M=%u kernel | M=%u driver |", m, m);
  std::printf("\n|---|---|");
  for (std::size_t i = 0; i < 2 * std::size(kGemmRows); ++i) std::printf("---:|");
  std::printf("\n");
  for (const Shape& s : kShapes) {
    const std::string shape = "/" + isa + "/" + shape_name(s) + "/";
    if (!r.has_prefix("qgemm" + shape) && !r.has_prefix("qgemm_canonical" + shape)) continue;
    std::printf("| %s | %u x %u |", s.layer, s.n, s.k);
    for (const std::uint32_t m : kGemmRows) {
      const std::string suffix = shape + "M:" + std::to_string(m);
      std::printf(" %s | %s |", giga_share(r.get("qgemm" + suffix, "ops"), peak).c_str(),
                  giga_share(r.get("qgemm_canonical" + suffix, "ops"), peak).c_str());
    }
    std::printf("\n");
  }
}

void print_summary(const SummaryReporter& r) {
  const double dram = r.get("limits/read/dram", "bytes");
  const double dram2 = r.get("limits/read/dram/real_time/threads:2", "bytes");
  const double l3 = r.get("limits/read/l3", "bytes"), l2 = r.get("limits/read/l2", "bytes");
  std::printf(
      "\nSummary (GB/s and GOPS; medians when repeated; %% of the limit measured in the "
      "same run)\n");
  std::printf("limits: read dram %s (two threads %s), l3 %s, l2 %s GB/s", giga(dram).c_str(),
              giga(dram2).c_str(), giga(l3).c_str(), giga(l2).c_str());
  for (const kern::QGemmVariant& v : kern::qgemm_variants()) {
    const double peak = r.get(std::string("limits/int8_peak/") + v.isa, "ops");
    if (peak > 0) std::printf("; int8 peak %s %s GOPS", v.isa, giga(peak).c_str());
  }
  std::printf("\n");
  for (const kern::QGemmVariant& v : kern::qgemm_variants()) {
    const std::string isa = v.isa;
    if (r.has_prefix("qgemv/" + isa + "/")) print_decode(r, v, dram, dram2, l3);
    if (r.has_prefix("qgemm/" + isa + "/") || r.has_prefix("qgemm_canonical/" + isa + "/")) {
      print_prefill(r, v);
    }
  }
}

void register_all() {
  const kern::CpuFeatures& cpu = kern::cpu_features();
  std::fprintf(stderr, "CPU: %s\n", cpu.model.empty() ? "unknown" : cpu.model.c_str());

  // One core, timed by its CPU time like every kernel benchmark; and both cores, timed by the
  // wall clock, which only means something on an otherwise idle machine.
  benchmark::RegisterBenchmark("limits/read/dram", bench_read_dram)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("limits/read/dram", bench_read_dram)
      ->Threads(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("limits/read/l3", bench_read_cache, kL3Bytes)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("limits/read/l2", bench_read_cache, kL2Bytes)
      ->Unit(benchmark::kMicrosecond);
#if defined(__x86_64__)
  if (kern::isa_avx2_supported(cpu)) {
    benchmark::RegisterBenchmark("limits/int8_peak/avx2", bench_peak_avx2)
        ->Unit(benchmark::kMillisecond);
  }
  if (kern::isa_avx512vnni_supported(cpu)) {
    benchmark::RegisterBenchmark("limits/int8_peak/avx512vnni", bench_peak_avx512vnni)
        ->Unit(benchmark::kMillisecond);
  }
#endif

  for (const kern::QGemmVariant& v : kern::qgemm_variants()) {
    if (!v.supported(cpu)) {
      std::fprintf(stderr, "skipped (not supported by this CPU): %s\n", v.name);
      continue;
    }
    // The scalar reference is there for scale, not speed: hot and dram decode, M = 64 only.
    const bool reference = std::strcmp(v.isa, "scalar") == 0;
    const std::string isa = v.isa;
    for (const Shape& s : kShapes) {
      const std::string gemv = "qgemv/" + isa + "/" + shape_name(s);
      benchmark::RegisterBenchmark((gemv + "/hot").c_str(), bench_gemv, &v, s, std::size_t{0})
          ->Unit(benchmark::kMicrosecond);
      if (!reference && weight_bytes(s) <= kL3MaxMatrix) {
        benchmark::RegisterBenchmark((gemv + "/l3").c_str(), bench_gemv, &v, s, kL3Bytes)
            ->Unit(benchmark::kMicrosecond);
      }
      benchmark::RegisterBenchmark((gemv + "/dram").c_str(), bench_gemv, &v, s, kColdBytes)
          ->Unit(benchmark::kMicrosecond);
      if (!reference) {
        benchmark::RegisterBenchmark((gemv + "/dram").c_str(), bench_gemv_dram_2t, &v, s)
            ->Threads(2)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
      // Prefill. The output head only needs the last token's logits (M = 1).
      if (is_head(s)) continue;
      for (const std::uint32_t m : kGemmRows) {
        if (reference && m != 64) continue;
        const std::string suffix = "/" + isa + "/" + shape_name(s) + "/M:" + std::to_string(m);
        benchmark::RegisterBenchmark(("qgemm" + suffix).c_str(), bench_gemm, &v, s, m)
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("qgemm_canonical" + suffix).c_str(), bench_gemm_canonical, &v,
                                     s, m)
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
