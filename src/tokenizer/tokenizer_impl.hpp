// The tokenizer's tables, built once from a Vocabulary (tokenizer.cpp) and read by encode
// (encode.cpp) and decode (tokenizer.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/string_index.hpp"
#include "mobilellm/tokenizer.hpp"

namespace mobilellm {

namespace tokenizer_detail {

// A byte trie of the user_defined pieces, for greedy longest-prefix matching during encode.
class PieceTrie {
 public:
  bool empty() const { return nodes_.size() <= 1; }
  void insert(std::string_view text, std::int32_t id);
  // The longest piece that `text` begins with: {bytes, id}, or {0, -1} when none does.
  std::pair<std::size_t, std::int32_t> longest_prefix(std::string_view text) const;

 private:
  static std::uint64_t edge_key(std::uint32_t node, unsigned char byte) {
    return (std::uint64_t{node} << 8) | byte;
  }
  std::vector<std::int32_t> nodes_{-1};  // piece id ending at each node, or -1; node 0 is the root
  std::unordered_map<std::uint64_t, std::uint32_t> edges_;  // (node, byte) -> child node
};

// A merge of two adjacent symbols into the piece `result`; lower `rank` merges first.
struct Merge {
  std::int32_t rank;
  std::int32_t result;
};

}  // namespace tokenizer_detail

struct Tokenizer::Impl {
  std::vector<std::string> pieces;
  std::vector<TokenType> types;
  std::int32_t bos = -1, eos = -1, unk = -1;
  bool add_bos = true;
  bool add_space_prefix = true;

  // The pieces text can produce (normal, user_defined, unused), by text; the views point into
  // `pieces`, which never changes after construction.
  StringIndex text_pieces;  // over `pieces`
  std::size_t longest_text_piece = 0;  // bytes: no longer concatenation can be a piece
  tokenizer_detail::PieceTrie user_defined;
  bool has_unused = false;

  // Merge order (smaller first). SentencePiece: `score_rank[id]` of each text piece, a key that
  // orders as the scores do, reversed (equal scores equal keys; NaN last). Hugging Face:
  // `pair_merges` keyed by (left id, right id), holding the merge's rank in the list.
  bool merges_by_pair = false;
  std::vector<std::uint32_t> score_rank;
  std::unordered_map<std::uint64_t, tokenizer_detail::Merge> pair_merges;

  std::array<std::int32_t, 256> byte_piece;  // id of <0xNN> for each byte, or -1
  std::vector<std::int16_t> byte_value;      // per id: the byte of a byte piece, or -1

  static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return (std::uint64_t{static_cast<std::uint32_t>(left)} << 32) |
           static_cast<std::uint32_t>(right);
  }
  std::int32_t find_text_piece(std::string_view text) const {
    const std::uint32_t id = text_pieces.find(text);
    return id == StringIndex::kNone ? -1 : static_cast<std::int32_t>(id);
  }
  // Whether every byte of `text` has a <0xNN> piece.
  bool has_byte_pieces(std::string_view text) const;
  // Appends the ids of text that has no piece: its byte pieces when the vocabulary has them all,
  // else one unknown piece for the whole run (the constructor guarantees one of the two exists).
  void emit_unknown(std::string_view text, std::vector<std::int32_t>& ids) const;

  void encode_into(std::string_view text, std::vector<std::int32_t>& ids) const;  // encode.cpp

  // Decodes one id, appending finished text to `out`. `pending` holds byte-piece bytes that do
  // not yet form a character; `at_start` is true until the first non-control piece.
  void decode_one(std::int32_t id, std::string& pending, bool& at_start, std::string& out) const;
  // Outputs the bytes at the front of `pending`: each well-formed character as it is, each byte
  // that begins none as U+FFFD. Stops at an incomplete character, unless `final`.
  static void drain_bytes(std::string& pending, bool final, std::string& out);
  void check_id(std::int32_t id) const;  // throws InvalidArgument outside [0, size)
};

}  // namespace mobilellm
