// libFuzzer harness: read_sentencepiece_model, the protobuf decoder of tokenizer.model.
#include <cstdint>

#include "convert/tokenizer_sources.hpp"
#include "fuzz_harness.hpp"
#include "hostile_cases.hpp"
#include "mobilellm/error.hpp"

namespace {

std::vector<mobilellm::fuzz::Seed> seeds() {
  namespace h = mobilellm::hostile;
  h::SentencePieceModel skipped;  // fields the reader skips by wire type, all four of them
  skipped.trainer += h::pb::varint_field(1000, 7) + h::pb::bytes_field(1001, "x") +
                     h::pb::float_field(1002, 1.0f) + h::pb::key(1003, 1) + std::string(8, '\0');
  h::SentencePieceModel unsupported;  // well-formed, but a unigram model
  unsupported.trainer += h::pb::int32_field(3, 1);
  return {{"tokenizer.model", h::SentencePieceModel().bytes()},
          {"skipped-fields.model", skipped.bytes()},
          {"unigram.model", unsupported.bytes()}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  mobilellm::fuzz::handle_write_seeds(*argc, *argv, MOBILELLM_FUZZ_REGRESSIONS, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    mobilellm::read_sentencepiece_model({data, size}, "fuzz.model");
  } catch (const mobilellm::Error&) {
  }
  return 0;
}
