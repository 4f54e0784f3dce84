// Tokenizer inputs of a checkpoint: SentencePiece `tokenizer.model` (protobuf, read directly)
// and Hugging Face `tokenizer.json` (BPE with byte fallback).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "mobilellm/vocabulary.hpp"

namespace mobilellm {

// Decodes a SentencePiece ModelProto from its protobuf wire format: pieces (field 1: piece=1,
// score=2, type=3), trainer_spec (field 2: model_type=3, treat_whitespace_as_suffix=24,
// byte_fallback=35, unk_id=40, bos_id=41, eos_id=42, pad_id=43) and normalizer_spec (field 3:
// name=1, precompiled_charsmap=2, add_dummy_prefix=3, remove_extra_whitespaces=4,
// escape_whitespaces=5); other fields are skipped by wire type.
//  - FormatError (naming `file`, the field path such as "pieces[17].score", and the offset):
//    varints longer than 10 bytes or above 64 bits, groups, lengths overrunning their message,
//    int32 fields out of range, booleans other than 0/1, more than 2^22 pieces, empty, invalid
//    UTF-8 or duplicate pieces, unknown piece types, non-finite scores, BYTE pieces not spelled
//    <0xNN>, missing trainer_spec or normalizer_spec, not exactly one UNKNOWN piece (it must be
//    trainer_spec.unk_id), bos/eos/pad ids neither -1 nor a piece.
//  - UnsupportedError: model types other than BPE, no byte fallback, whitespace as suffix,
//    normalization rules (precompiled_charsmap), remove_extra_whitespaces, unescaped spaces.
// add_space_prefix comes from add_dummy_prefix; add_bos/add_eos are the LLaMA convention
// (true/false): tokenizer.model has no such flags.
Vocabulary read_sentencepiece_model(std::span<const std::uint8_t> bytes, const std::string& file);

// Reads a Hugging Face tokenizer.json and, when given, tokenizer_config.json (`config_file` is
// its name for messages).
//  - model: type "BPE" with byte_fallback true (no dropout, word affixes or ignore_merges);
//    vocab {piece: id} with ids exactly 0..n-1; added_tokens restate vocab entries or extend
//    the ids contiguously; merges as "left right" or ["left", "right"], each side and their
//    concatenation a piece, no repeats.
//  - text handling must match SentencePiece's: normalizer Replace(" " → "▁") with an optional
//    Prepend("▁") (alone or in a Sequence) and no pre_tokenizer, or no normalizer and a
//    non-splitting Metaspace("▁") pre_tokenizer. add_space_prefix says whether "▁" is prepended.
//  - types: "<0xNN>" pieces byte, special added tokens control, other added tokens
//    user_defined, model.unk_token unknown, the rest normal.
//  - merges are kept in rank order (they decide merge priority at run time); scores mirror
//    them: the piece first created by the merge of rank r (0-based) scores -(r + 1), pieces no
//    merge creates score 0.
//  - tokenizer_config.json gives bos/eos/pad/unk tokens (a string or {"content": ...}; unk must
//    agree with model.unk_token) and add_bos_token / add_eos_token (default true / false).
//    Without it, bos/eos/pad stay -1.
// Type errors, bad values and dangling references throw FormatError naming the file and the
// JSON path (e.g. "model.merges[17]"); features the runtime lacks throw UnsupportedError.
Vocabulary read_hf_tokenizer(const std::string& tokenizer_json, const std::string& json_file,
                             const std::string* tokenizer_config_json,
                             const std::string& config_file);

}  // namespace mobilellm
