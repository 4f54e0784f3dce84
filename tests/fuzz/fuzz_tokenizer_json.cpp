// libFuzzer harness: read_hf_tokenizer. An input is tokenizer.json, optionally followed by a NUL
// byte and tokenizer_config.json (JSON text never holds a raw NUL, so the split is unambiguous).
#include <cstdint>
#include <optional>
#include <string>

#include "convert/tokenizer_sources.hpp"
#include "fuzz_harness.hpp"
#include "mobilellm/error.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS,
                                      mobilellm::hostile::tokenizer_json_fuzz_seeds);
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
