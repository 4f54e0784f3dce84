// libFuzzer harness: the model file. Every input goes through gguf::parse, the container reader;
// inputs it accepts are then opened with ModelFile::open (through a memfd), which validates the
// model schema on top: keys, vocabulary, tensor set, shapes and types.
#include <cstdint>

#include "format/gguf.hpp"
#include "fuzz_harness.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/model_file.hpp"

namespace {

std::vector<mobilellm::fuzz::Seed> seeds() {
  using mobilellm::test::ModelBuilder;
  using mobilellm::test::ModelSpec;
  ModelSpec w8a8 = mobilellm::hostile::gguf_spec();
  w8a8.weight_type = "W8A8";
  ModelSpec untied = mobilellm::hostile::gguf_spec();
  untied.embedding_sharing = false;
  untied.merges = true;
  untied.padding_token = true;
  untied.weight_type = "F16";
  return {{"f32.gguf", mobilellm::hostile::gguf_seed().bytes},
          {"w8a8.gguf", ModelBuilder(w8a8).bytes()},
          {"untied-f16-merges.gguf", ModelBuilder(untied).bytes()}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static mobilellm::fuzz::MemoryFile file;
  try {
    mobilellm::gguf::parse({data, size}, "fuzz.gguf");
  } catch (const mobilellm::Error&) {
    return 0;
  }
  try {
    mobilellm::ModelFile::open(file.put(data, size));
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
