// Micro-benchmarks of the W8A8 kernels (kernels/kernels.hpp) on the shapes of real MobileLLM
// layers, next to the machine's own limits, measured the same way:
//   limits/stream_read             reads a 1 GB buffer: the memory bandwidth decode is bound by;
//   limits/int8_peak/<isa>         a register-only loop of the ISA's int8 multiply-accumulate
//                                  (vpdpbusd; vpmaddwd + vpaddd): the compute bound of prefill;
//   qgemv/<isa>/<layer>.<N>x<K>/hot     M = 1, weights resident in cache (L2 or L3);
//   qgemv/<isa>/<layer>.<N>x<K>/dram    M = 1, cycling through copies of the weights totalling
//                                       kColdBytes, so that every call streams them from memory,
//                                       as decoding a whole model does;
//   qgemm/<isa>/<layer>.<N>x<K>/M:64, M:512   prefill.
// Counters: ops = 2 * M * N * K per second (multiply and add), weights = N * K weight bytes per
// second, bytes = bytes read per second. Rates are per CPU second of the benchmark thread (Google
// Benchmark's default), which on a shared machine is the code's own speed. Only variants this CPU
// supports are registered; the others are listed on stderr. Usage and results:
// benchmarks/README.md.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

void set_counters(benchmark::State& state, std::uint32_t m, const Shape& s) {
  const double macs = static_cast<double>(m) * s.n * s.k;
  state.counters["ops"] =
      benchmark::Counter(2 * macs, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weights"] = benchmark::Counter(static_cast<double>(s.n) * s.k,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Quantized random activations and weights of one shape, packed for one variant.
struct Operands {
  std::uint32_t m, n, k, a_stride;
  std::vector<std::int8_t> a;
  std::vector<float> a_scale, w_scale, c;
  std::size_t packed_bytes;
  Buffer packed;

  Operands(const kern::QGemmVariant& v, std::uint32_t m_, const Shape& s)
      : m(m_), n(s.n), k(s.k), a_stride(kern::k_padded(s.k, v.kr)) {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> byte(-127, 127);
    a.assign(std::size_t{m} * a_stride, 0);
    for (std::uint32_t i = 0; i < m; ++i) {
      for (std::uint32_t j = 0; j < k; ++j)
        a[std::size_t{i} * a_stride + j] = static_cast<std::int8_t>(byte(rng));
    }
    std::vector<std::int8_t> w(std::size_t{n} * k);
    for (auto& x : w) x = static_cast<std::int8_t>(byte(rng));
    a_scale.assign(m, 0.01f);
    w_scale.assign(n, 0.002f);
    c.assign(std::size_t{m} * n, 0.0f);
    packed_bytes = v.packed_size(n, k);
    packed = allocate(packed_bytes);
    v.pack(n, k, w.data(), packed.get());
  }
};

void bench_gemv_hot(benchmark::State& state, const kern::QGemmVariant* v, Shape s) {
  Operands op(*v, 1, s);
  for (auto _ : state) {
    v->gemv_f32(0, op.n, op.k, op.a.data(), op.a_scale[0], op.packed.get(), op.w_scale.data(),
                op.c.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 1, s);
}

void bench_gemv_dram(benchmark::State& state, const kern::QGemmVariant* v, Shape s) {
  Operands op(*v, 1, s);
  // Copies of the packed weights, each on its own 64-byte boundary, more than the caches hold.
  const std::size_t stride = (op.packed_bytes + 63) / 64 * 64;
  const std::size_t copies = kColdBytes / stride + 2;
  Buffer pool = allocate(copies * stride);
  for (std::size_t i = 0; i < copies; ++i)
    std::memcpy(pool.get() + i * stride, op.packed.get(), op.packed_bytes);
  std::size_t next = 0;
  for (auto _ : state) {
    v->gemv_f32(0, op.n, op.k, op.a.data(), op.a_scale[0], pool.get() + next * stride,
                op.w_scale.data(), op.c.data());
    benchmark::ClobberMemory();
    next = next + 1 == copies ? 0 : next + 1;
  }
  set_counters(state, 1, s);
}

void bench_gemm(benchmark::State& state, const kern::QGemmVariant* v, Shape s, std::uint32_t m) {
  Operands op(*v, m, s);
  for (auto _ : state) {
    v->gemm_f32(m, 0, op.n, op.k, op.a.data(), op.a_stride, op.a_scale.data(), op.packed.get(),
                op.w_scale.data(), op.c.data(), op.n);
    benchmark::ClobberMemory();
  }
  set_counters(state, m, s);
}

// ------------------------------------------------------------------------- the machine's limits

const std::uint8_t* stream_buffer() {
  static const Buffer buffer = allocate(kStreamBytes);
  return buffer.get();
}

// Sums the thread's share of the 1 GB buffer as 64-bit words (8 independent sums, vectorized by
// the compiler): the read bandwidth of plain streaming code.
void bench_stream_read(benchmark::State& state) {
  const std::size_t share = kStreamBytes / static_cast<std::size_t>(state.threads());
  const auto* words = reinterpret_cast<const std::uint64_t*>(
      stream_buffer() + share * static_cast<std::size_t>(state.thread_index()));
  const std::size_t count = share / sizeof(std::uint64_t);
  for (auto _ : state) {
    std::uint64_t s[8] = {};
    for (std::size_t i = 0; i < count; i += 8) {
      for (int j = 0; j < 8; ++j) s[j] += words[i + static_cast<std::size_t>(j)];
    }
    std::uint64_t total = 0;
    for (const std::uint64_t x : s) total += x;
    benchmark::DoNotOptimize(total);
  }
  state.counters["bytes"] =
      benchmark::Counter(static_cast<double>(share), benchmark::Counter::kIsIterationInvariantRate);
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

void register_all() {
  const kern::CpuFeatures& cpu = kern::cpu_features();
  std::fprintf(stderr, "CPU: %s\n", cpu.model.empty() ? "unknown" : cpu.model.c_str());

  // One core, timed by its CPU time like every kernel benchmark; and both cores, timed by the
  // wall clock, which only means something on an otherwise idle machine.
  benchmark::RegisterBenchmark("limits/stream_read", bench_stream_read)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("limits/stream_read", bench_stream_read)
      ->Threads(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
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
    const bool reference = std::strcmp(v.isa, "scalar") == 0;
    for (const Shape& s : kShapes) {
      const std::string shape =
          std::string(s.layer) + "." + std::to_string(s.n) + "x" + std::to_string(s.k);
      benchmark::RegisterBenchmark(("qgemv/" + std::string(v.isa) + "/" + shape + "/hot").c_str(),
                                   bench_gemv_hot, &v, s)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("qgemv/" + std::string(v.isa) + "/" + shape + "/dram").c_str(),
                                   bench_gemv_dram, &v, s)
          ->Unit(benchmark::kMicrosecond);
      // Prefill: M = 64 and 512. The output head only needs the last token's logits (M = 1);
      // the scalar reference is there for scale, not speed, so it stops at M = 64.
      for (const std::uint32_t m : {64u, 512u}) {
        if (m == 512 && (reference || is_head(s))) continue;
        benchmark::RegisterBenchmark(
            ("qgemm/" + std::string(v.isa) + "/" + shape + "/M:" + std::to_string(m)).c_str(),
            bench_gemm, &v, s, m)
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
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
