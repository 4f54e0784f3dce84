// Text <-> token ids for LLaMA-family vocabularies: SentencePiece BPE with byte fallback.
//
// Encoding follows SentencePiece's BPE model exactly as LLaMA / MobileLLM use it
// (tokenizer.model: identity normalisation, dummy prefix, no whitespace folding, byte fallback):
//
//   1. Empty text encodes to no pieces. Otherwise, when the vocabulary's add_space_prefix is set,
//      one space is prepended (the "dummy prefix"), and every ' ' (U+0020, only that character)
//      becomes U+2581 '▁'. Nothing else is normalised: runs of spaces, tabs, newlines, NBSP and
//      any other character are kept as they are.
//   2. The text is cut into symbols, left to right. Where a user_defined piece matches, the longest
//      one is taken as a whole symbol that never merges. Otherwise a symbol is one UTF-8
//      character. A byte that does not begin a well-formed UTF-8 character (stray continuation
//      byte, truncated or overlong sequence, surrogate, above U+10FFFF) is a symbol on its own
//      that never merges, and is treated as a character missing from the vocabulary, so it comes
//      out as its byte piece <0xNN>. (The SentencePiece library itself would first replace such a
//      byte with U+FFFD; its Python API takes `str`, so invalid UTF-8 cannot reach it from there.
//      Keeping the byte makes encode lossless.)
//   3. Adjacent symbols merge, best pair first, until no pair is left:
//      - SentencePiece vocabularies (Vocabulary::merges empty): a pair may merge when its
//        concatenation is a normal, user_defined or unused piece; higher piece score first.
//      - Hugging Face vocabularies (tokenizer.json, Vocabulary::merges set): a pair of pieces may
//        merge when "left right" is listed in `merges`; lower rank (earlier in the list) first.
//        A character without a piece is replaced by its byte pieces *before* merging, as
//        Hugging Face's BPE with byte_fallback does, so merges of byte pieces apply.
//      Ties go to the leftmost pair. The merging is O(n log n): a priority queue of candidate pairs
//      over a linked list of symbols, with stale candidates dropped when popped.
//   4. Each final symbol is emitted as its piece id. An unused piece left at the end is split
//      back into the two symbols it was last merged from (SentencePiece's resegmentation).
//      A run of symbols that are no piece (characters missing from the vocabulary) is emitted as
//      the byte pieces <0xNN> of its UTF-8 bytes ("byte fallback") when the vocabulary has all
//      of them, and otherwise as one unknown piece for the whole run (SentencePiece without byte
//      fallback and Hugging Face's fuse_unk both fuse such runs).
//   Control pieces are never produced from text: "<s>" encodes as '▁<', 's', '>' (as in
//   SentencePiece; Hugging Face's tokenizers would match added special tokens in the text).
//   Byte and unknown pieces come only from the fallback of step 4.
//
// Decoding follows SentencePiece's decoder:
//   - control pieces (<s>, </s>) produce nothing; unknown pieces produce " ⁇ " (U+2047 between
//     spaces, SentencePiece's default unk surface);
//   - '▁' becomes ' '; the first piece that is not a control piece loses one leading '▁' when
//     add_space_prefix is set (the dummy prefix), so decode(encode(x)) == x for valid UTF-8 x
//     that contains no '▁' of its own, when the vocabulary has all 256 byte pieces;
//   - consecutive byte pieces are joined; each well-formed UTF-8 character among them is output,
//     and each byte that does not begin a complete well-formed character (checked byte by byte,
//     left to right) becomes U+FFFD. A run of byte pieces ends at any other piece, control pieces
//     included. Decoded text is therefore always valid UTF-8.
//
// A Tokenizer is immutable once built; encode and decode may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mobilellm/vocabulary.hpp"

namespace mobilellm {

class Tokenizer {
  struct Impl;  // the tables built from the vocabulary (src/tokenizer/tokenizer_impl.hpp)

 public:
  // Copies what it needs from `vocab`. Throws InvalidArgument naming the offending entry when the
  // vocabulary is inconsistent: array sizes differ, a special id or a token type is out of range,
  // a byte piece is not "<0xNN>" or repeats a byte, two pieces text can produce are equal or
  // empty, a merge is not "left right" over known pieces joining into a piece text can produce,
  // or some byte has no <0xNN> piece and there is no unknown piece to stand in for it.
  explicit Tokenizer(const Vocabulary& vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;  // a moved-from Tokenizer may only be destroyed or assigned
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // The ids of `text` (any bytes; see the rules above), preceded by bos() when `add_bos`.
  // Throws InvalidArgument when add_bos is set and the vocabulary has no BOS, or when `text` is
  // 512 MiB or longer. Working memory is proportional to the length of the text.
  std::vector<std::int32_t> encode(std::string_view text, bool add_bos) const;

  // The text of `ids`. Throws InvalidArgument naming the first id outside [0, size()).
  std::string decode(std::span<const std::int32_t> ids) const;

  // The stored piece of `id` ('▁' for spaces, "<0x0A>" for bytes). Throws InvalidArgument.
  std::string_view piece(std::int32_t id) const;
  TokenType type(std::int32_t id) const;  // throws InvalidArgument

  std::int32_t bos() const;  // -1 when the vocabulary has none
  std::int32_t eos() const;  // -1 when the vocabulary has none
  std::int32_t unk() const;  // -1 when the vocabulary has none
  std::size_t size() const;
  bool add_bos() const;  // whether the model expects BOS before a prompt (Vocabulary::add_bos)

  // Incremental decoding for generation: push ids one at a time and get back the text they
  // complete. Never returns part of a UTF-8 character: byte pieces are held until they form a
  // whole character (or are known to be invalid, giving U+FFFD). The concatenation of every
  // push() result and the final finish() equals decode() of all the ids pushed.
  //
  // A fresh decoder is at the start of a text, where the dummy-prefix space is dropped. To
  // continue after a prompt, push the prompt's ids first and discard what they return.
  // The tokenizer (or the one it is moved into) must outlive the decoder. A decoder is not
  // thread-safe; use one per stream.
  class StreamDecoder {
   public:
    explicit StreamDecoder(const Tokenizer& tokenizer);
    // The text `id` completes (possibly empty). Throws InvalidArgument for an id outside the
    // vocabulary, leaving the decoder as it was.
    std::string push(std::int32_t id);
    // Ends the text: bytes still held (an incomplete character) come back as one U+FFFD each,
    // and the decoder is back at the start of a new text.
    std::string finish();

   private:
    const Impl* tokenizer_;
    std::string pending_;   // byte-piece bytes not yet output: a proper prefix of a character
    bool at_start_ = true;  // no piece other than control pieces seen yet
  };

 private:
  std::unique_ptr<const Impl> impl_;
};

}  // namespace mobilellm
