// libFuzzer harness: read_hf_tokenizer. An input is tokenizer.json, optionally followed by a NUL
// byte and tokenizer_config.json (JSON text never holds a raw NUL, so the split is unambiguous).
#include <cstdint>
#include <optional>
#include <string>

#include "convert/tokenizer_sources.hpp"
#include "fuzz_harness.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/error.hpp"

namespace {

std::vector<std::uint8_t> joined(const std::string& tokenizer, const std::string* config) {
  std::string s = tokenizer;
  if (config) s += std::string(1, '\0') + *config;
  return {s.begin(), s.end()};
}

std::vector<mobilellm::fuzz::Seed> seeds() {
  namespace h = mobilellm::hostile;
  const std::string tokenizer = h::tiny::tokenizer_json().dump();
  const std::string config = h::tiny::tokenizer_config().dump();
  // The other spelling of SentencePiece's text handling: a non-splitting Metaspace.
  auto metaspace = h::tiny::tokenizer_json();
  metaspace["normalizer"] = nullptr;
  metaspace["pre_tokenizer"] = {{"type", "Metaspace"},
                                {"replacement", "\xe2\x96\x81"},
                                {"split", false},
                                {"prepend_scheme", "first"}};
  return {{"tokenizer-and-config.json", joined(tokenizer, &config)},
          {"tokenizer.json", joined(tokenizer, nullptr)},
          {"metaspace.json", joined(metaspace.dump(), &config)}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::optional<std::string> config =
      nul == std::string::npos ? std::nullopt : std::optional(input.substr(nul + 1));
  try {
    mobilellm::read_hf_tokenizer(input.substr(0, nul), "fuzz/tokenizer.json",
                                 config ? &*config : nullptr, "fuzz/tokenizer_config.json");
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
