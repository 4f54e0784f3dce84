// libFuzzer harness: parse_hf_config on config.json.
#include <cstdint>
#include <string>

#include "convert/hf_config.hpp"
#include "fuzz_harness.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/error.hpp"

namespace {

std::vector<std::uint8_t> bytes(const nlohmann::ordered_json& j) {
  const std::string s = j.dump(2);
  return {s.begin(), s.end()};
}

std::vector<mobilellm::fuzz::Seed> seeds() {
  namespace h = mobilellm::hostile;
  // The release form: MobileLLMForCausalLM with share_embedding and layer_sharing, head_dim.
  auto release = h::tiny::config();
  release["architectures"] = {"MobileLLMForCausalLM"};
  release["model_type"] = "mobilellm";
  release["share_embedding"] = true;
  release["layer_sharing"] = true;
  release["head_dim"] = h::tiny::kHeadDim;
  release["rope_scaling"] = nullptr;
  release.erase("tie_word_embeddings");
  return {{"config.json", bytes(h::tiny::config())}, {"release-config.json", bytes(release)}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS, seeds);
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
