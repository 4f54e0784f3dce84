// libFuzzer harness: parse_hf_config on config.json.
#include <cstdint>
#include <string>

#include "convert/hf_config.hpp"
#include "fuzz_harness.hpp"
#include "mobilellm/error.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS,
                                      mobilellm::hostile::config_fuzz_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    mobilellm::parse_hf_config(std::string(reinterpret_cast<const char*>(data), size),
                               "fuzz/config.json");
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
