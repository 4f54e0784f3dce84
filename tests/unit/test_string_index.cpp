// StringIndex (src/common/string_index.hpp) against std::map: random short strings drawn from a
// small alphabet (so that repeats and shared prefixes are common), every lookup of present and
// absent strings, the id a repeat reports, and the empty string. The seed is printed;
// MOBILELLM_TEST_SEED=N replays a run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/string_index.hpp"

namespace mobilellm {
namespace {

std::uint64_t seed() {
  const char* env = std::getenv("MOBILELLM_TEST_SEED");
  return env && *env ? std::strtoull(env, nullptr, 0) : 20261121;
}

std::string random_string(std::mt19937_64& rng) {
  const std::size_t length = rng() % 5;  // 0..4 characters of "ab\0\xff": many collisions
  std::string s;
  for (std::size_t i = 0; i < length; ++i) s += "ab\0\xff"[rng() % 4];
  return s;
}

TEST(StringIndex, AgreesWithAMapOverRandomStringsWithRepeats) {
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed()));
  std::mt19937_64 rng(seed());
  for (const std::size_t n : {0u, 1u, 7u, 8u, 9u, 100u, 341u, 5000u}) {
    std::vector<std::string> strings(n);
    for (auto& s : strings) s = random_string(rng);
    StringIndex index(strings);
    std::map<std::string, std::uint32_t> first;  // the reference: first id of each string
    for (std::uint32_t id = 0; id < n; ++id) {
      const auto [it, added] = first.emplace(strings[id], id);
      ASSERT_EQ(index.insert(id), added ? StringIndex::kNone : it->second)
          << "n " << n << ", id " << id;
    }
    for (int probe = 0; probe < 2000; ++probe) {
      const std::string s = random_string(rng);
      const auto it = first.find(s);
      ASSERT_EQ(index.find(s), it == first.end() ? StringIndex::kNone : it->second)
          << "n " << n << ", probe of length " << s.size();
      ASSERT_EQ(index.contains(s), it != first.end());
    }
  }
}

TEST(StringIndex, DefaultConstructedFindsNothing) {
  const StringIndex index;
  EXPECT_EQ(index.find(""), StringIndex::kNone);
  EXPECT_FALSE(index.contains("a"));
}

}  // namespace
}  // namespace mobilellm
