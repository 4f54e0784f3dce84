// Tokenizer inputs of a checkpoint: SentencePiece `tokenizer.model` (protobuf, read directly)
// and Hugging Face `tokenizer.json` (BPE with byte fallback).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "mobilellm/vocabulary.hpp"

namespace mobilellm {

// Decodes a SentencePiece ModelProto: pieces (field 1: piece=1, score=2, type=3), trainer_spec
// (field 2: model_type=3 must be BPE (2), unk_id=40, bos_id=41, eos_id=42, pad_id=43,
// byte_fallback=35) and normalizer_spec (field 3: add_dummy_prefix=3, remove_extra_whitespaces=4).
// Unknown fields are skipped by wire type. Varints longer than 10 bytes, lengths that overrun
// their message, invalid UTF-8 pieces, unknown piece types, and special ids outside the vocabulary
// throw FormatError naming `file`, the field and the offset.
Vocabulary read_sentencepiece_model(std::span<const std::uint8_t> bytes, const std::string& file);

// Reads a tokenizer.json whose model is BPE (byte_fallback true; vocab, merges) and, when given,
// tokenizer_config.json (bos/eos/unk/pad tokens, add_bos_token, add_eos_token). Added tokens
// flagged special become control tokens; "<0xNN>" pieces become byte tokens. Scores are set so
// that a higher score means an earlier merge. Throws FormatError on anything unexpected.
Vocabulary read_hf_tokenizer(const std::string& tokenizer_json, const std::string& json_file,
                             const std::string* tokenizer_config_json,
                             const std::string& config_file);

}  // namespace mobilellm
