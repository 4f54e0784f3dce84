// `mobilellm bench`'s pure logic: argument parsing (values and errors), the list of tests, and
// the statistics (mean, sample standard deviation, percentiles, rates) against values worked out
// by hand. The timing itself is exercised by tests/python/test_bench.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "bench_stats.hpp"
#include "cli.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::cli::bench {
namespace {

Options parse(std::initializer_list<const char*> argv) {
  return parse_options(Args(argv.begin(), argv.end()));
}

// The UsageError message for `argv` ("" when it parses).
std::string usage_error(std::initializer_list<const char*> argv) {
  try {
    parse(argv);
  } catch (const UsageError& e) {
    return e.message;
  }
  return "";
}

TEST(BenchArgs, Defaults) {
  const Options o = parse({"-m", "a.gguf"});
  EXPECT_EQ(o.models, std::vector<std::string>{"a.gguf"});
  EXPECT_EQ(o.n_prompt, std::vector<std::uint32_t>{512});
  EXPECT_EQ(o.n_gen, std::vector<std::uint32_t>{128});
  EXPECT_EQ(o.n_depth, std::vector<std::uint32_t>{0});
  EXPECT_EQ(o.threads, std::vector<unsigned>{0});
  EXPECT_EQ(o.repetitions, 5u);
  EXPECT_TRUE(o.warmup);
  EXPECT_EQ(o.output, OutputFormat::md);
  EXPECT_TRUE(o.energy);
  EXPECT_EQ(o.idle_seconds, 2.0);
  EXPECT_FALSE(o.energy_estimate);
  EXPECT_TRUE(o.pg.empty());
  EXPECT_EQ(expand_tests(o), (std::vector<TestSpec>{{512, 0, 0}, {0, 128, 0}}));
}

TEST(BenchArgs, ListsCommasAndRepeats) {
  // clang-format off
  const Options o = parse({"-m", "a.gguf,b.gguf", "--model", "c.gguf", "-p", "1,2", "-p", "3",
                           "-n", "0", "-pg", "4,5", "-pg", "6,7", "-d", "0,16", "-t", "1,2",
                           "-r", "3", "-o", "jsonl", "--kernels", "scalar,avx2", "-b", "64",
                           "--no-warmup", "--idle-seconds", "0.5", "--energy-estimate", "params",
                           "--energy-root-powercap", "/x", "--energy-no-perf-event"});
  // clang-format on
  EXPECT_EQ(o.models, (std::vector<std::string>{"a.gguf", "b.gguf", "c.gguf"}));
  EXPECT_EQ(o.n_prompt, (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(o.n_gen, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(o.threads, (std::vector<unsigned>{1, 2}));
  EXPECT_EQ(o.repetitions, 3u);
  EXPECT_EQ(o.n_batch, 64u);
  EXPECT_FALSE(o.warmup);
  EXPECT_EQ(o.output, OutputFormat::jsonl);
  EXPECT_EQ(o.kernels, (std::vector<std::string>{"scalar", "avx2"}));
  EXPECT_EQ(o.idle_seconds, 0.5);
  EXPECT_TRUE(o.energy_estimate);
  EXPECT_EQ(o.probe.powercap_root, "/x");
  EXPECT_FALSE(o.probe.use_perf_event);
  // Per depth: pp tests, tg tests (none: -n 0), then pg tests.
  const std::vector<TestSpec> want{{1, 0, 0},  {2, 0, 0},  {3, 0, 0},  {4, 5, 0},  {6, 7, 0},
                                   {1, 0, 16}, {2, 0, 16}, {3, 0, 16}, {4, 5, 16}, {6, 7, 16}};
  EXPECT_EQ(expand_tests(o), want);
}

TEST(BenchArgs, Shapes) {
  Options o = parse({"--shape", "125M,LS-350M", "--type", "f32,w8a8"});
  ASSERT_EQ(o.synthetic.size(), 4u);
  EXPECT_EQ(o.synthetic[0], (SyntheticRequest{"125M", false, OutputType::f32}));
  EXPECT_EQ(o.synthetic[1], (SyntheticRequest{"125M", false, OutputType::w8a8}));
  EXPECT_EQ(o.synthetic[2], (SyntheticRequest{"350M", true, OutputType::f32}));
  EXPECT_EQ(o.synthetic[3], (SyntheticRequest{"350M", true, OutputType::w8a8}));
  EXPECT_EQ(o.synthetic[3].label(), "LS-350M w8a8");
  o = parse({"--shape", "1.5B", "--ls", "--seed", "9", "--cache-dir", "/tmp/c"});
  EXPECT_EQ(o.synthetic.at(0), (SyntheticRequest{"1.5B", true, OutputType::f32}));
  EXPECT_EQ(o.seed, 9u);
  EXPECT_EQ(o.cache_dir, "/tmp/c");
  o = parse({"--shape", "tiny", "--type", "w8a8", "--save", "/tmp/t.gguf"});
  EXPECT_EQ(o.save_path, "/tmp/t.gguf");
}

TEST(BenchArgs, TestNames) {
  EXPECT_EQ((TestSpec{512, 0, 0}).name(), "pp512");
  EXPECT_EQ((TestSpec{0, 128, 0}).name(), "tg128");
  EXPECT_EQ((TestSpec{512, 128, 0}).name(), "pp512+tg128");
  EXPECT_EQ((TestSpec{0, 128, 512}).name(), "tg128 @ d512");
  EXPECT_EQ((TestSpec{4, 5, 6}).context(), 15u);
}

TEST(BenchArgs, Errors) {
  EXPECT_NE(usage_error({}).find("missing -m MODEL or --shape"), std::string::npos);
  EXPECT_NE(usage_error({"-m"}).find("-m needs a value"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-p", "abc"}).find("-p expects an integer"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-p", "1,,2"}).find("without empty items"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-p", "-1"}).find("'-1'"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-pg", "5"}).find("-pg expects P,N"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-pg", "5,0"}).find("-pg expects an integer in [1"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-pg", "1,2,3"}).find("-pg expects P,N"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-t", "2000"}).find("[0, 1024]"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-r", "0"}).find("-r expects"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-b", "0"}).find("-b expects"), std::string::npos);
  EXPECT_NE(
      usage_error({"-m", "a", "-o", "xml"}).find("-o expects md, json, jsonl or csv, got 'xml'"),
      std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "-p", "0", "-n", "0"}).find("no test to run"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "--idle-seconds", "-1"}).find("--idle-seconds"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "--idle-seconds", "nan"}).find("--idle-seconds"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "--energy-estimate", "watts"}).find("'params'"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "--frobnicate"}).find("unknown option --frobnicate"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "stray"}).find("unexpected argument 'stray'"),
            std::string::npos);
  EXPECT_NE(usage_error({"--shape", "42M"}).find("unknown shape '42M'"), std::string::npos);
  EXPECT_NE(usage_error({"--shape", "LS-"}).find("unknown shape 'LS-'"), std::string::npos);
  EXPECT_NE(usage_error({"--shape", "125M", "--type", "q4"}).find("--type expects f32"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "--ls"}).find("--ls applies to --shape"), std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "--type", "w8a8"}).find("--type applies to --shape"),
            std::string::npos);
  EXPECT_NE(usage_error({"--shape", "125M", "--type", "f32,w8a8", "--save", "x"})
                .find("--save writes one"),
            std::string::npos);
  EXPECT_NE(usage_error({"-m", "a", "--shape", "125M", "--save", "x"}).find("--save writes one"),
            std::string::npos);
  EXPECT_EQ(usage_error({"-m", "a", "-h"}), "");  // help wins
  EXPECT_TRUE(parse({"--help"}).help);
}

// Independent float64 reference: the textbook two-pass formulas.
double ref_mean(const std::vector<double>& x) {
  long double s = 0;
  for (double v : x) s += v;
  return double(s / x.size());
}
double ref_sample_sd(const std::vector<double>& x) {
  const long double m = ref_mean(x);
  long double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return double(std::sqrt(s / (x.size() - 1)));
}

TEST(BenchStats, MeanAndSampleStddev) {
  EXPECT_FALSE(mean({}).has_value());
  EXPECT_FALSE(sample_stddev(std::vector<double>{3.0}).has_value());  // undefined for n = 1
  const std::vector<double> x{2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(*mean(x), 5.0);
  EXPECT_DOUBLE_EQ(*sample_stddev(x), std::sqrt(32.0 / 7.0));  // not the population's sqrt(32/8)
  EXPECT_DOUBLE_EQ(*sample_stddev(std::vector<double>{1, 3}), std::sqrt(2.0));

  // A fixed seed unless MOBILELLM_TEST_SEED says otherwise (printed, so a run can be replayed).
  unsigned long long seed = 20251121;
  if (const char* env = std::getenv("MOBILELLM_TEST_SEED"); env != nullptr && *env != '\0')
    seed = std::strtoull(env, nullptr, 0);
  std::printf("[ bench    ] stats seed %llu (replay: MOBILELLM_TEST_SEED=%llu)\n", seed, seed);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(1e8, 1e8 + 1e3);  // large mean, small spread
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> v(2 + rng() % 30);
    for (auto& e : v) e = u(rng);
    EXPECT_NEAR(*mean(v), ref_mean(v), 1e-6);
    EXPECT_NEAR(*sample_stddev(v), ref_sample_sd(v), 1e-6 * ref_sample_sd(v));
  }
}

TEST(BenchStats, PercentilesInterpolateLinearly) {
  EXPECT_FALSE(percentile({}, 50).has_value());
  const std::vector<double> x{4, 1, 3, 2};  // unsorted on purpose
  EXPECT_DOUBLE_EQ(*percentile(x, 0), 1.0);
  EXPECT_DOUBLE_EQ(*percentile(x, 50), 2.5);   // rank 1.5
  EXPECT_DOUBLE_EQ(*percentile(x, 90), 3.7);   // rank 2.7
  EXPECT_DOUBLE_EQ(*percentile(x, 99), 3.97);  // rank 2.97
  EXPECT_DOUBLE_EQ(*percentile(x, 100), 4.0);
  EXPECT_DOUBLE_EQ(*percentile(std::vector<double>{7}, 99), 7.0);
  std::vector<double> hundred_and_one;
  for (int i = 0; i <= 100; ++i) hundred_and_one.push_back(100 - i);
  EXPECT_DOUBLE_EQ(*percentile(hundred_and_one, 90), 90.0);
  EXPECT_THROW(percentile(x, 101), InvalidArgument);
  EXPECT_THROW(percentile(x, -1), InvalidArgument);
  EXPECT_THROW(percentile(x, std::nan("")), InvalidArgument);
}

TEST(BenchStats, Rates) {
  const std::vector<std::uint64_t> ns{1'000'000'000, 500'000'000, 2'000'000'000};
  EXPECT_EQ(rates(ns, 128), (std::vector<double>{128.0, 256.0, 64.0}));
}

// The KV cache type options: `--cache-type` (generate, perplexity, logits) through
// parse_cache_type(), and bench's -ctk / -ctv lists, which must agree (one element type).
TEST(CacheTypeOption, Names) {
  EXPECT_EQ(parse_cache_type("--cache-type", "f32"), KvType::f32);
  EXPECT_EQ(parse_cache_type("--cache-type", "f16"), KvType::f16);
  for (const char* bad : {"", "F16", "q8_0", "bf16", "f16,"}) {
    try {
      parse_cache_type("--cache-type", bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_EQ(e.message, std::string("--cache-type expects a KV cache type (f32 or f16), got '") +
                               bad + "'");
    }
  }
}

TEST(BenchCacheTypes, DefaultListsAndEquality) {
  EXPECT_EQ(parse({"-m", "a"}).cache_types, std::vector<KvType>{KvType::f32});
  EXPECT_EQ(parse({"-m", "a", "-ctk", "f16"}).cache_types, std::vector<KvType>{KvType::f16});
  EXPECT_EQ(parse({"-m", "a", "-ctv", "f16"}).cache_types, std::vector<KvType>{KvType::f16});
  EXPECT_EQ(parse({"-m", "a", "-ctk", "f16", "-ctv", "f16"}).cache_types,
            std::vector<KvType>{KvType::f16});
  const std::vector<KvType> both{KvType::f32, KvType::f16};
  EXPECT_EQ(parse({"-m", "a", "-ctk", "f32,f16", "-ctv", "f32,f16"}).cache_types, both);
  EXPECT_EQ(parse({"-m", "a", "--cache-type-k", "f32", "--cache-type-k=f16"}).cache_types, both);
  EXPECT_EQ(parse({"-m", "a", "--cache-type-v=f32,f16"}).cache_types, both);

  EXPECT_EQ(usage_error({"-m", "a", "-ctk", "f16", "-ctv", "f32"}),
            "-ctk f16 and -ctv f32 differ: the KV cache has one element type for keys and "
            "values, so -ctv must equal -ctk (or give only one of them)");
  EXPECT_NE(usage_error({"-m", "a", "-ctk", "f32,f16", "-ctv", "f16,f32"}).find("differ"),
            std::string::npos);
  EXPECT_EQ(usage_error({"-m", "a", "-ctk", "q4_0"}),
            "-ctk expects a KV cache type (f32 or f16), got 'q4_0'");
  EXPECT_EQ(usage_error({"-m", "a", "-ctv", "f16,"}).find("-ctv"), 0u);
}

}  // namespace
}  // namespace mobilellm::cli::bench
