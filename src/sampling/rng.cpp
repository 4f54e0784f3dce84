// xoshiro256** seeded through splitmix64, written from the published algorithm descriptions
// (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018; Steele, Lea & Flood,
// "Fast splittable pseudorandom number generators", 2014).
#include <cstdint>

#include "mobilellm/sampler.hpp"

namespace mobilellm {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// One step of splitmix64: advances `state` by the golden-ratio increment and mixes it.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

}  // namespace

void Rng::reseed(std::uint64_t seed) {
  // splitmix64 mixes four distinct counter values through a bijection, so at most one word is
  // zero and the state is never xoshiro's all-zero fixed point.
  for (std::uint64_t& word : s_) word = splitmix64(seed);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

}  // namespace mobilellm
