// The KV cache type options of the CLI: `--cache-type` (generate, perplexity, logits) through
// parse_cache_type(), and bench's llama-bench style -ctk / -ctv lists, which must agree (the
// cache has one element type for keys and values).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench_args.hpp"
#include "cli.hpp"

namespace mobilellm::cli::bench {
namespace {

Options parse(std::initializer_list<const char*> argv) {
  return parse_options(Args(argv.begin(), argv.end()));
}

std::string usage_error(std::initializer_list<const char*> argv) {
  try {
    parse(argv);
  } catch (const UsageError& e) {
    return e.message;
  }
  return "";
}

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
