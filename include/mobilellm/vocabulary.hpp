// The tokenizer's vocabulary as stored in the model file under `tokenizer.ggml.*`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mobilellm {

// Token types, numbered as SentencePiece and GGUF (`tokenizer.ggml.token_type`) number them.
enum class TokenType : std::int32_t {
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

struct Vocabulary {
  // "llama": SentencePiece BPE. Merge order comes from `scores` (higher merges first) unless
  // `merges` is non-empty, in which case the Hugging Face merge ranks decide.
  std::string model = "llama";
  std::vector<std::string> pieces;  // UTF-8 pieces; spaces appear as U+2581 '▁'
  std::vector<float> scores;        // one per piece
  std::vector<TokenType> types;     // one per piece
  std::vector<std::string> merges;  // "left right" pairs in rank order (tokenizer.json), or empty
  std::int32_t bos_id = -1;
  std::int32_t eos_id = -1;
  std::int32_t unk_id = -1;
  std::int32_t pad_id = -1;  // -1 when absent
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;  // SentencePiece "dummy prefix"

  std::size_t size() const { return pieces.size(); }
};

}  // namespace mobilellm
