// The two tokenizer sources a checkpoint may ship, turned into one Vocabulary:
//  - SentencePiece `tokenizer.model`, a protobuf ModelProto decoded here by hand from the wire
//    format (no protobuf dependency), and
//  - Hugging Face `tokenizer.json` (+ `tokenizer_config.json`), a BPE model with byte fallback.
// Both are untrusted input: every length and count is bounded before use, and every problem is
// reported as FormatError (malformed) or UnsupportedError (well-formed, but a feature the runtime
// tokenizer does not implement), naming the file, the field and the offending value.
#include "convert/tokenizer_sources.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/byte_reader.hpp"
#include "common/utf8.hpp"
#include "convert/hf_config.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

constexpr std::size_t kMaxPieces = std::size_t{1} << 22;
constexpr std::size_t kMaxMerges = std::size_t{1} << 22;
constexpr std::string_view kSpace = "\u2581";  // '▁', SentencePiece's visible space

[[noreturn]] void unsupported(const std::string& file, std::string_view field,
                              const std::string& detail) {
  throw UnsupportedError(fmt::format("{}: {}: {}", file, field, detail));
}

// Why `piece` cannot be a vocabulary entry, or an empty string when it can: pieces are text to
// the runtime and the model file, so they must be non-empty UTF-8 without NUL bytes.
std::string piece_problem(std::string_view piece) {
  if (piece.empty()) return "is empty";
  if (!is_valid_name(piece))
    return fmt::format("\"{}\" is not valid UTF-8 or contains a NUL byte", printable(piece));
  return {};
}

// "<0xNN>" with two upper-case hex digits: how SentencePiece and Hugging Face both spell the
// byte-fallback pieces (Hugging Face looks them up by exactly this spelling).
bool is_byte_piece(std::string_view piece) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return piece.size() == 6 && piece.starts_with("<0x") && hex(piece[3]) && hex(piece[4]) &&
         piece[5] == '>';
}

// ======================================================================= protobuf wire format
//
// A message is a sequence of records: key = varint(field_number << 3 | wire_type), then a value
// whose encoding the wire type gives: 0 varint, 1 eight bytes, 2 varint length + that many bytes,
// 5 four bytes. Wire types 3 and 4 (groups) are deprecated and absent from
// sentencepiece_model.proto, so they are rejected like the undefined 6 and 7.
//
// Nesting is bounded by construction: the decoder descends only into the three known
// sub-messages of ModelProto; every other field is skipped by its length without being parsed.

enum class Wire : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

class ProtoReader {
 public:
  // `path` names this message in errors ("" for the top level, "pieces[17]", "trainer_spec").
  ProtoReader(std::span<const std::uint8_t> bytes, const std::string& file,
              std::uint64_t base_offset, std::string path)
      : in_(bytes, file, base_offset), path_(std::move(path)) {}

  // Reads the next record's key; false at the end of the message.
  bool next() {
    if (in_.at_end()) return false;
    record_offset_ = in_.offset();
    const std::uint64_t key = varint("(key)");
    const std::uint64_t field = key >> 3;
    const unsigned wire = key & 7;
    if (field == 0 || field > kMaxFieldNumber)
      fail("(key)", fmt::format("field number {} is outside 1..{}", field, kMaxFieldNumber));
    if (wire != 0 && wire != 1 && wire != 2 && wire != 5)
      fail("(key)", fmt::format("field {} has wire type {}; groups (3, 4) and 6, 7 are not "
                                "supported",
                                field, wire));
    field_ = static_cast<std::uint32_t>(field);
    wire_ = static_cast<Wire>(wire);
    return true;
  }

  std::uint32_t field() const { return field_; }

  // Typed reads of the current record's value; `name` is the field's name in errors.
  std::int32_t int32(std::string_view name) {  // also enums
    expect(Wire::varint, name);
    // Negative int32 values are sign-extended to 64 bits on the wire.
    const auto value = static_cast<std::int64_t>(varint(name));
    if (value < std::numeric_limits<std::int32_t>::min() ||
        value > std::numeric_limits<std::int32_t>::max())
      fail(name, fmt::format("value {} does not fit in int32", value));
    return static_cast<std::int32_t>(value);
  }

  bool boolean(std::string_view name) {
    expect(Wire::varint, name);
    const std::uint64_t value = varint(name);
    if (value > 1) fail(name, fmt::format("boolean value is {}, not 0 or 1", value));
    return value == 1;
  }

  float float32(std::string_view name) {
    expect(Wire::fixed32, name);
    float value;
    std::memcpy(&value, take(4, name).data(), 4);  // little-endian, as ByteReader assumes
    return value;
  }

  std::string_view string(std::string_view name) {
    const auto bytes = length_delimited(name);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }

  ProtoReader message(std::string_view name, std::string child_path) {
    const auto bytes = length_delimited(name);
    const std::uint64_t base = in_.offset() - bytes.size();
    return ProtoReader(bytes, in_.file(), base, std::move(child_path));
  }

  // Skips the current record's value; errors name it `name`, or "(field N)" when empty.
  void skip(std::string_view name = {}) {
    switch (wire_) {
      case Wire::varint: varint(name); break;
      case Wire::fixed64: take(8, name); break;
      case Wire::length_delimited: length_delimited(name); break;
      case Wire::fixed32: take(4, name); break;
    }
  }

  // Fails naming `name` within this message, at the offset of the current record.
  [[noreturn]] void fail(std::string_view name, const std::string& detail) const {
    throw FormatError(in_.file(), qualified(name), detail, record_offset_);
  }
  // Fails about this message as a whole, at the offset where it starts.
  [[noreturn]] void fail_message(std::string_view name, const std::string& detail) const {
    throw FormatError(in_.file(), qualified(name), detail, in_.offset() - in_.pos());
  }

 private:
  static constexpr std::uint64_t kMaxFieldNumber = (std::uint64_t{1} << 29) - 1;

  std::string qualified(std::string_view name) const {
    const std::string field = name.empty() ? fmt::format("(field {})", field_) : std::string(name);
    return path_.empty() ? field : fmt::format("{}.{}", path_, field);
  }

  void expect(Wire wire, std::string_view name) const {
    if (wire_ != wire)
      fail(name, fmt::format("has wire type {}, expected {}", static_cast<int>(wire_),
                             static_cast<int>(wire)));
  }

  std::span<const std::uint8_t> take(std::uint64_t n, std::string_view name) {
    if (n > in_.remaining())
      fail(name, fmt::format("needs {} bytes but the message has {} left (truncated)", n,
                             in_.remaining()));
    return in_.bytes(n, name);
  }

  // Base-128, least significant group first: at most 10 bytes, the 10th carrying only bit 63.
  std::uint64_t varint(std::string_view name) {
    std::uint64_t value = 0;
    for (unsigned shift = 0;; shift += 7) {
      const std::uint8_t byte = take(1, name)[0];
      if (shift == 63 && byte > 1)
        fail(name, byte & 0x80 ? "varint is longer than 10 bytes" : "varint overflows 64 bits");
      value |= std::uint64_t{byte & 0x7fu} << shift;
      if (byte < 0x80) return value;
    }
  }

  std::span<const std::uint8_t> length_delimited(std::string_view name) {
    expect(Wire::length_delimited, name);
    const std::uint64_t length = varint(name);
    if (length > in_.remaining())
      fail(name, fmt::format("length {} overruns the enclosing message ({} bytes left)", length,
                             in_.remaining()));
    return take(length, name);
  }

  ByteReader in_;
  std::string path_;
  std::uint64_t record_offset_ = 0;
  std::uint32_t field_ = 0;
  Wire wire_ = Wire::varint;
};

// ============================================================== SentencePiece ModelProto
//
// ModelProto { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
//              NormalizerSpec normalizer_spec = 3; ... }
// Defaults below are the proto2 defaults of sentencepiece_model.proto.

struct TrainerSpec {
  bool present = false;
  std::int32_t model_type = 1;  // UNIGRAM
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  std::int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};

struct NormalizerSpec {
  bool present = false;
  std::string name;
  std::size_t charsmap_size = 0;  // precompiled normalization rules; empty for "identity"
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// SentencePiece { string piece = 1; float score = 2; Type type = 3 [default = NORMAL]; }
void read_piece(ProtoReader r, Vocabulary& v,
                std::unordered_map<std::string_view, std::int32_t>& ids) {
  const auto id = static_cast<std::int32_t>(v.size());
  std::string_view piece;
  float score = 0.0f;
  std::int32_t type = static_cast<std::int32_t>(TokenType::normal);
  while (r.next()) {
    switch (r.field()) {
      case 1:
        piece = r.string("piece");
        if (!piece.empty() && !is_valid_name(piece)) r.fail("piece", piece_problem(piece));
        break;
      case 2:
        score = r.float32("score");
        if (!std::isfinite(score)) r.fail("score", fmt::format("is {}", score));
        break;
      case 3:
        type = r.int32("type");
        if (type < static_cast<std::int32_t>(TokenType::normal) ||
            type > static_cast<std::int32_t>(TokenType::byte))
          r.fail("type", fmt::format("is {}, not a SentencePiece piece type (1..6)", type));
        break;
      default: r.skip();
    }
  }
  if (piece.empty()) r.fail_message("piece", "is empty or missing");
  const auto token_type = static_cast<TokenType>(type);
  if (token_type == TokenType::byte && !is_byte_piece(piece))
    r.fail_message("piece",
                   fmt::format("\"{}\" has type BYTE but is not spelled <0xNN>", printable(piece)));
  if (token_type == TokenType::unknown) {
    if (v.unk_id >= 0)
      r.fail_message("type", fmt::format("is UNKNOWN, but so is pieces[{}]", v.unk_id));
    v.unk_id = id;
  }
  // `piece` views the file's bytes; the map's key views the stored copy, which stays put
  // because the caller reserved every piece's slot up front.
  v.pieces.emplace_back(piece);
  if (auto [it, inserted] = ids.emplace(v.pieces.back(), id); !inserted)
    r.fail_message("piece",
                   fmt::format("\"{}\" duplicates pieces[{}]", printable(piece), it->second));
  v.scores.push_back(score);
  v.types.push_back(token_type);
}

void read_trainer_spec(ProtoReader r, TrainerSpec& t) {
  t.present = true;
  while (r.next()) {
    switch (r.field()) {
      case 3: t.model_type = r.int32("model_type"); break;
      case 24: t.treat_whitespace_as_suffix = r.boolean("treat_whitespace_as_suffix"); break;
      case 35: t.byte_fallback = r.boolean("byte_fallback"); break;
      case 40: t.unk_id = r.int32("unk_id"); break;
      case 41: t.bos_id = r.int32("bos_id"); break;
      case 42: t.eos_id = r.int32("eos_id"); break;
      case 43: t.pad_id = r.int32("pad_id"); break;
      default: r.skip();  // training-only settings
    }
  }
}

void read_normalizer_spec(ProtoReader r, NormalizerSpec& n) {
  n.present = true;
  while (r.next()) {
    switch (r.field()) {
      case 1: n.name = r.string("name"); break;
      case 2: n.charsmap_size = r.string("precompiled_charsmap").size(); break;
      case 3: n.add_dummy_prefix = r.boolean("add_dummy_prefix"); break;
      case 4: n.remove_extra_whitespaces = r.boolean("remove_extra_whitespaces"); break;
      case 5: n.escape_whitespaces = r.boolean("escape_whitespaces"); break;
      default: r.skip();
    }
  }
}

// Counts the `pieces` records of the top-level message without decoding them, so the
// vocabulary is bounded before anything is allocated and its storage reserved exactly.
std::size_t count_pieces(std::span<const std::uint8_t> bytes, const std::string& file) {
  ProtoReader r(bytes, file, 0, "");
  std::size_t count = 0;
  while (r.next()) {
    if (r.field() == 1 && ++count > kMaxPieces)
      r.fail("pieces", fmt::format("more than {} pieces", kMaxPieces));
    static constexpr std::string_view kNames[] = {"", "pieces", "trainer_spec", "normalizer_spec"};
    r.skip(r.field() < std::size(kNames) ? kNames[r.field()] : "");
  }
  return count;
}

std::string model_type_name(std::int32_t type) {
  switch (type) {
    case 1: return "UNIGRAM (1)";
    case 2: return "BPE (2)";
    case 3: return "WORD (3)";
    case 4: return "CHAR (4)";
  }
  return fmt::format("an unknown model type ({})", type);
}

}  // namespace

Vocabulary read_sentencepiece_model(std::span<const std::uint8_t> bytes, const std::string& file) {
  const std::size_t count = count_pieces(bytes, file);
  Vocabulary v;
  v.pieces.reserve(count);
  v.scores.reserve(count);
  v.types.reserve(count);
  std::unordered_map<std::string_view, std::int32_t> ids;
  ids.reserve(count);
  TrainerSpec trainer;
  NormalizerSpec normalizer;

  // Repeated occurrences of the two singular sub-messages merge, as protobuf specifies.
  ProtoReader model(bytes, file, 0, "");
  while (model.next()) {
    switch (model.field()) {
      case 1:
        read_piece(model.message("pieces", fmt::format("pieces[{}]", v.size())), v, ids);
        break;
      case 2: read_trainer_spec(model.message("trainer_spec", "trainer_spec"), trainer); break;
      case 3:
        read_normalizer_spec(model.message("normalizer_spec", "normalizer_spec"), normalizer);
        break;
      default: model.skip();
    }
  }

  // Structure: a file cut short at a record boundary is well-formed protobuf, so these
  // presence checks are what reports truncation there.
  if (v.pieces.empty()) throw FormatError(file, "pieces", "the model has no pieces");
  if (!trainer.present) throw FormatError(file, "trainer_spec", "is missing");
  if (!normalizer.present) throw FormatError(file, "normalizer_spec", "is missing");

  // Features: what our runtime tokenizer implements is SentencePiece BPE with byte fallback,
  // no normalization rules, spaces escaped as '▁' and an optional '▁' prefix.
  if (trainer.model_type != 2)
    unsupported(
        file, "trainer_spec.model_type",
        fmt::format("is {}; only BPE (2) is supported", model_type_name(trainer.model_type)));
  if (!trainer.byte_fallback)
    unsupported(file, "trainer_spec.byte_fallback",
                "is false; only byte-fallback models are supported");
  if (trainer.treat_whitespace_as_suffix)
    unsupported(file, "trainer_spec.treat_whitespace_as_suffix", "is true; '▁' must prefix words");
  if (normalizer.charsmap_size != 0)
    unsupported(file, "normalizer_spec.precompiled_charsmap",
                fmt::format("holds {} bytes of normalization rules (normalizer \"{}\"); only the "
                            "identity normalizer is supported",
                            normalizer.charsmap_size, printable(normalizer.name)));
  if (normalizer.remove_extra_whitespaces)
    unsupported(file, "normalizer_spec.remove_extra_whitespaces",
                "is true; the runtime tokenizer does not collapse whitespace");
  if (!normalizer.escape_whitespaces)
    unsupported(file, "normalizer_spec.escape_whitespaces", "is false; spaces must become '▁'");

  // Special ids. SentencePiece takes the unknown id from the one UNKNOWN piece; the trainer's
  // unk_id must agree. bos/eos/pad may be -1 (absent).
  const auto n = static_cast<std::int32_t>(v.size());
  if (v.unk_id < 0) throw FormatError(file, "pieces", "no piece has type UNKNOWN");
  if (trainer.unk_id != v.unk_id)
    throw FormatError(
        file, "trainer_spec.unk_id",
        fmt::format("is {} but the UNKNOWN piece is pieces[{}]", trainer.unk_id, v.unk_id));
  auto special = [&](std::int32_t id, const char* field) {
    if (id < -1 || id >= n)
      throw FormatError(file, field,
                        fmt::format("is {}, outside the {} pieces (-1 means none)", id, n));
    return id;
  };
  v.bos_id = special(trainer.bos_id, "trainer_spec.bos_id");
  v.eos_id = special(trainer.eos_id, "trainer_spec.eos_id");
  v.pad_id = special(trainer.pad_id, "trainer_spec.pad_id");

  v.model = "llama";
  v.add_bos = true;  // the LLaMA convention; tokenizer.model itself has no such flag
  v.add_eos = false;
  v.add_space_prefix = normalizer.add_dummy_prefix;
  return v;
}

// ============================================================================ tokenizer.json

namespace {

using json = nlohmann::json;

// One parsed JSON document and typed access to it; failures name the file and the JSON path.
class JsonFile {
 public:
  JsonFile(const std::string& text, std::string file)
      : file_(std::move(file)), doc_(parse_hf_json(text, file_)) {
    object(doc_, "(document)");
  }

  const json& root() const { return doc_; }

  [[noreturn]] void fail(const std::string& path, const std::string& detail) const {
    throw FormatError(file_, path, detail);
  }
  [[noreturn]] void unsupported(const std::string& path, const std::string& detail) const {
    mobilellm::unsupported(file_, path, detail);
  }

  // Member `key` of the object `obj`, or nullptr when absent or null.
  static const json* find(const json& obj, const char* key) {
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  // The same, required: fails naming `path`.`key` when absent or null.
  const json& member(const json& obj, const std::string& path, const char* key) const {
    const json* j = find(obj, key);
    if (!j) fail(join(path, key), "is missing");
    return *j;
  }
  static std::string join(const std::string& path, const char* key) {
    return path.empty() ? key : fmt::format("{}.{}", path, key);
  }

  const json& object(const json& j, const std::string& path) const {
    return expect(j, j.is_object(), "an object", path);
  }
  const json& array(const json& j, const std::string& path) const {
    return expect(j, j.is_array(), "an array", path);
  }
  const std::string& string(const json& j, const std::string& path) const {
    return expect(j, j.is_string(), "a string", path).get_ref<const std::string&>();
  }
  bool boolean(const json& j, const std::string& path) const {
    return expect(j, j.is_boolean(), "true or false", path).get<bool>();
  }
  // An integer in lo..hi (0 <= lo <= hi).
  std::int64_t integer(const json& j, const std::string& path, std::int64_t lo,
                       std::int64_t hi) const {
    expect(j, j.is_number_integer(), "an integer", path);
    // JSON integers >= 0 are held as uint64 (negative ones as int64): compare unsigned so huge
    // values cannot wrap into range.
    if (!j.is_number_unsigned() || j.get<std::uint64_t>() < static_cast<std::uint64_t>(lo) ||
        j.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
      fail(path, fmt::format("is {}, outside {}..{}", j.dump(), lo, hi));
    return static_cast<std::int64_t>(j.get<std::uint64_t>());
  }

 private:
  const json& expect(const json& j, bool ok, const char* wanted, const std::string& path) const {
    if (!ok) fail(path, fmt::format("expected {}, found {}", wanted, describe_json(j)));
    return j;
  }

  std::string file_;
  json doc_;
};

struct AddedToken {
  std::int64_t id;
  const std::string* content;
  bool special;
  std::size_t index;  // position in added_tokens, for messages
};

// model.vocab: {piece: id} with ids exactly 0..n-1.
void read_vocab(const JsonFile& tj, const json& model, Vocabulary& v) {
  const json& vocab = tj.object(tj.member(model, "model", "vocab"), "model.vocab");
  if (vocab.empty()) tj.fail("model.vocab", "is empty");
  if (vocab.size() > kMaxPieces)
    tj.fail("model.vocab",
            fmt::format("has {} entries, above the limit of {}", vocab.size(), kMaxPieces));
  const auto n = static_cast<std::int64_t>(vocab.size());
  v.pieces.assign(vocab.size(), {});
  std::vector<bool> filled(vocab.size(), false);
  for (const auto& [piece, value] : vocab.items()) {
    const std::string path = fmt::format("model.vocab[\"{}\"]", printable(piece));
    if (const std::string problem = piece_problem(piece); !problem.empty())
      tj.fail(path, "piece " + problem);
    // n distinct pieces with n distinct ids in 0..n-1 cover every id: no gaps are possible.
    const auto id = static_cast<std::size_t>(tj.integer(value, path, 0, n - 1));
    if (filled[id])
      tj.fail(path, fmt::format("id {} is also given to \"{}\"", id, printable(v.pieces[id])));
    filled[id] = true;
    v.pieces[id] = piece;
  }
}

// added_tokens: [{id, content, special}, ...], sorted by id.
std::vector<AddedToken> read_added_tokens(const JsonFile& tj) {
  std::vector<AddedToken> tokens;
  const json* list = JsonFile::find(tj.root(), "added_tokens");
  if (!list) return tokens;
  tj.array(*list, "added_tokens");
  if (list->size() > kMaxPieces)
    tj.fail("added_tokens",
            fmt::format("has {} entries, above the limit of {}", list->size(), kMaxPieces));
  tokens.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string path = fmt::format("added_tokens[{}]", i);
    const json& t = tj.object((*list)[i], path);
    const std::int64_t id = tj.integer(tj.member(t, path, "id"), path + ".id", 0,
                                       static_cast<std::int64_t>(kMaxPieces) - 1);
    const std::string& content = tj.string(tj.member(t, path, "content"), path + ".content");
    if (const std::string problem = piece_problem(content); !problem.empty())
      tj.fail(path + ".content", problem);
    const json* special = JsonFile::find(t, "special");
    tokens.push_back({id, &content, special && tj.boolean(*special, path + ".special"), i});
  }
  std::stable_sort(tokens.begin(), tokens.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  return tokens;
}

// Checks the model's options against what the runtime implements (plain BPE over SentencePiece
// pieces, falling back to <0xNN> byte pieces).
void check_bpe_options(const JsonFile& tj, const json& model) {
  const std::string& type = tj.string(tj.member(model, "model", "type"), "model.type");
  if (type != "BPE")
    tj.unsupported("model.type",
                   fmt::format("is \"{}\"; only \"BPE\" is supported", printable(type)));
  const json* fallback = JsonFile::find(model, "byte_fallback");
  if (!fallback || !tj.boolean(*fallback, "model.byte_fallback"))
    tj.unsupported("model.byte_fallback",
                   "is false or missing; only byte-fallback BPE is supported");
  if (const json* dropout = JsonFile::find(model, "dropout"))
    if (!dropout->is_number() || dropout->get<double>() != 0.0)
      tj.unsupported("model.dropout",
                     fmt::format("is {}; BPE dropout is not supported", describe_json(*dropout)));
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const json* j = JsonFile::find(model, affix);
        j && !(j->is_string() && j->get_ref<const std::string&>().empty()))
      tj.unsupported(JsonFile::join("model", affix),
                     fmt::format("is {}; word affixes are not supported", describe_json(*j)));
  if (const json* ignore = JsonFile::find(model, "ignore_merges");
      ignore && tj.boolean(*ignore, "model.ignore_merges"))
    tj.unsupported("model.ignore_merges",
                   "is true; whole-word vocabulary lookups are not supported");
}

// One merge, "left right" or ["left", "right"], as two views into the document.
std::pair<std::string_view, std::string_view> merge_sides(const JsonFile& tj, const json& m,
                                                          const std::string& path) {
  if (m.is_string()) {
    const std::string_view s = m.get_ref<const std::string&>();
    const auto space = s.find(' ');
    if (space == 0 || space == s.npos || space + 1 == s.size() || s.find(' ', space + 1) != s.npos)
      tj.fail(path,
              fmt::format("\"{}\" is not \"left right\" with exactly one space", printable(s)));
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (!m.is_array() || m.size() != 2 || !m[0].is_string() || !m[1].is_string())
    tj.fail(path, fmt::format("expected \"left right\" or [\"left\", \"right\"], found {}",
                              describe_json(m)));
  const std::string_view left = m[0].get_ref<const std::string&>(),
                         right = m[1].get_ref<const std::string&>();
  // Only this form can hold a space inside a piece; the model file stores "left right".
  if (left.find(' ') != left.npos || right.find(' ') != right.npos)
    tj.unsupported(path, fmt::format("[\"{}\", \"{}\"] has a piece containing a space, which "
                                     "\"left right\" merges cannot represent",
                                     printable(left), printable(right)));
  return {left, right};
}

// model.merges in rank order. Each side and their concatenation must be pieces. The merges are
// kept in the vocabulary (they decide merge priority at run time); scores mirror them: the
// piece a merge of rank r (0-based) creates first scores -(r + 1), every piece no merge creates
// (characters, bytes, special tokens) scores 0. Ranks stay below 2^22, exact in a float.
void read_merges(const JsonFile& tj, const json& model,
                 const std::unordered_map<std::string_view, std::int32_t>& ids, Vocabulary& v) {
  const json& merges = tj.array(tj.member(model, "model", "merges"), "model.merges");
  if (merges.size() > kMaxMerges)
    tj.fail("model.merges",
            fmt::format("has {} entries, above the limit of {}", merges.size(), kMaxMerges));
  v.merges.reserve(merges.size());  // no reallocation below: `seen` views the stored strings
  std::unordered_set<std::string_view> seen;
  seen.reserve(merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string path = fmt::format("model.merges[{}]", rank);
    const auto [left, right] = merge_sides(tj, merges[rank], path);
    for (const std::string_view side : {left, right})
      if (!ids.contains(side))
        tj.fail(path, fmt::format("\"{}\" is not in model.vocab", printable(side)));
    joined.assign(left).append(right);
    const auto made = ids.find(joined);
    if (made == ids.end())
      tj.fail(path,
              fmt::format("the merged piece \"{}\" is not in model.vocab", printable(joined)));
    v.merges.push_back(fmt::format("{} {}", left, right));
    if (!seen.insert(v.merges.back()).second)
      tj.fail(path, fmt::format("\"{}\" repeats an earlier merge", printable(v.merges.back())));
    float& score = v.scores[static_cast<std::size_t>(made->second)];
    if (score == 0.0f) score = -static_cast<float>(rank + 1);
  }
}

// The normalizer steps the runtime reproduces: Prepend("▁") (SentencePiece's dummy prefix)
// and Replace(" " → "▁"). Anything else throws UnsupportedError.
enum class NormalizerStep { prepend, replace };

NormalizerStep normalizer_step(const JsonFile& tj, const json& step, const std::string& path) {
  tj.object(step, path);
  const std::string& type = tj.string(tj.member(step, path, "type"), path + ".type");
  if (type == "Prepend") {
    const std::string& prefix = tj.string(tj.member(step, path, "prepend"), path + ".prepend");
    if (prefix != kSpace)
      tj.unsupported(path + ".prepend",
                     fmt::format("is \"{}\"; only \"▁\" is supported", printable(prefix)));
    return NormalizerStep::prepend;
  }
  if (type == "Replace") {
    const json& pattern = tj.object(tj.member(step, path, "pattern"), path + ".pattern");
    const json* literal = JsonFile::find(pattern, "String");  // the other form is "Regex"
    const std::string& content = tj.string(tj.member(step, path, "content"), path + ".content");
    if (!literal || *literal != " " || content != kSpace)
      tj.unsupported(path, fmt::format("replaces {} with \"{}\"; only Replace(\" \" → \"▁\") is "
                                       "supported",
                                       literal ? describe_json(*literal) : "a regular expression",
                                       printable(content)));
    return NormalizerStep::replace;
  }
  tj.unsupported(path + ".type",
                 fmt::format("is \"{}\"; only Prepend and Replace are supported", printable(type)));
}

// Checks that text reaches the BPE model as SentencePiece would pass it (spaces as '▁', maybe
// one '▁' prepended) and returns whether the '▁' is prepended. Two spellings exist: a
// normalizer Replace(" " → "▁"), optionally with Prepend("▁"), alone or in a Sequence, and no
// pre-tokenizer; or no normalizer and a Metaspace("▁") pre-tokenizer that does not split.
bool read_space_prefix(const JsonFile& tj) {
  const json* normalizer = JsonFile::find(tj.root(), "normalizer");
  const json* pre = JsonFile::find(tj.root(), "pre_tokenizer");
  if (normalizer) {
    if (pre) tj.unsupported("pre_tokenizer", "must be null when a normalizer is given");
    tj.object(*normalizer, "normalizer");
    const std::string& type =
        tj.string(tj.member(*normalizer, "normalizer", "type"), "normalizer.type");
    std::vector<NormalizerStep> steps;
    if (type == "Sequence") {
      const json& list =
          tj.array(tj.member(*normalizer, "normalizer", "normalizers"), "normalizer.normalizers");
      for (std::size_t i = 0; i < list.size(); ++i)
        steps.push_back(normalizer_step(tj, list[i], fmt::format("normalizer.normalizers[{}]", i)));
    } else {
      steps.push_back(normalizer_step(tj, *normalizer, "normalizer"));
    }
    // The two steps commute (the prefix holds no space), so their order does not matter.
    const auto prepends = std::ranges::count(steps, NormalizerStep::prepend);
    const auto replaces = std::ranges::count(steps, NormalizerStep::replace);
    if (replaces != 1 || prepends > 1)
      tj.unsupported("normalizer",
                     fmt::format("has {} Replace(\" \" → \"▁\") and {} Prepend(\"▁\") "
                                 "steps; exactly one and at most one are supported",
                                 replaces, prepends));
    return prepends == 1;
  }
  if (!pre)
    tj.unsupported("normalizer", "and pre_tokenizer are both null: spaces would not become \"▁\"");
  tj.object(*pre, "pre_tokenizer");
  const std::string& type =
      tj.string(tj.member(*pre, "pre_tokenizer", "type"), "pre_tokenizer.type");
  if (type != "Metaspace")
    tj.unsupported("pre_tokenizer.type",
                   fmt::format("is \"{}\"; only Metaspace is supported", printable(type)));
  const std::string& replacement =
      tj.string(tj.member(*pre, "pre_tokenizer", "replacement"), "pre_tokenizer.replacement");
  if (replacement != kSpace)
    tj.unsupported("pre_tokenizer.replacement",
                   fmt::format("is \"{}\"; only \"▁\" is supported", printable(replacement)));
  // Splitting into words at '▁' (Hugging Face's default) keeps merges from crossing a '▁', which
  // SentencePiece does not do.
  const json* split = JsonFile::find(*pre, "split");
  if (!split || tj.boolean(*split, "pre_tokenizer.split"))
    tj.unsupported("pre_tokenizer.split",
                   "is true or missing (meaning true); splitting into words is not supported");
  if (const json* scheme = JsonFile::find(*pre, "prepend_scheme")) {
    const std::string& s = tj.string(*scheme, "pre_tokenizer.prepend_scheme");
    if (s != "always" && s != "first" && s != "never")
      tj.fail("pre_tokenizer.prepend_scheme",
              fmt::format("is \"{}\", not \"always\", \"first\" or \"never\"", printable(s)));
    return s != "never";
  }
  // Files older than prepend_scheme say add_prefix_space, which defaulted to true.
  const json* legacy = JsonFile::find(*pre, "add_prefix_space");
  return !legacy || tj.boolean(*legacy, "pre_tokenizer.add_prefix_space");
}

// A special token of tokenizer_config.json ("<s>" or {"content": "<s>", ...}) as an id; -1 when
// absent or null.
std::int32_t special_token_id(const JsonFile& tc, const char* key,
                              const std::unordered_map<std::string_view, std::int32_t>& ids) {
  const json* token = JsonFile::find(tc.root(), key);
  if (!token) return -1;
  const std::string path = key;
  const std::string& content =
      token->is_object() ? tc.string(tc.member(*token, path, "content"), path + ".content")
                         : tc.string(*token, path);
  const auto it = ids.find(content);
  if (it == ids.end())
    tc.fail(path, fmt::format("\"{}\" is not in the vocabulary", printable(content)));
  return it->second;
}

}  // namespace

Vocabulary read_hf_tokenizer(const std::string& tokenizer_json, const std::string& json_file,
                             const std::string* tokenizer_config_json,
                             const std::string& config_file) {
  const JsonFile tj(tokenizer_json, json_file);
  const json& model = tj.object(tj.member(tj.root(), "", "model"), "model");
  check_bpe_options(tj, model);

  Vocabulary v;
  v.model = "llama";
  read_vocab(tj, model, v);

  // Added tokens either restate a vocabulary entry or, in id order, extend the vocabulary.
  const std::vector<AddedToken> added = read_added_tokens(tj);
  for (const AddedToken& t : added) {
    const std::string path = fmt::format("added_tokens[{}]", t.index);
    const auto id = static_cast<std::size_t>(t.id);
    if (id < v.size()) {
      if (v.pieces[id] != *t.content)
        tj.fail(path, fmt::format("id {} is \"{}\" here but \"{}\" in model.vocab", id,
                                  printable(*t.content), printable(v.pieces[id])));
    } else if (id == v.size()) {
      v.pieces.push_back(*t.content);
    } else {
      tj.fail(path + ".id",
              fmt::format("is {}, leaving a gap after the last id {}", id, v.size() - 1));
    }
  }

  // The pieces are final: index them (the map views the strings, which no longer move).
  std::unordered_map<std::string_view, std::int32_t> ids;
  ids.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    if (auto [it, inserted] = ids.emplace(v.pieces[i], static_cast<std::int32_t>(i)); !inserted)
      tj.fail("added_tokens", fmt::format("\"{}\" (id {}) duplicates id {}", printable(v.pieces[i]),
                                          i, it->second));

  // Types, later rules winning: normal; <0xNN> byte; added tokens control when special,
  // user-defined (matched verbatim) otherwise; the unknown piece unknown.
  v.types.assign(v.size(), TokenType::normal);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (is_byte_piece(v.pieces[i])) v.types[i] = TokenType::byte;
  for (const AddedToken& t : added)
    v.types[static_cast<std::size_t>(t.id)] =
        t.special ? TokenType::control : TokenType::user_defined;
  if (const json* unk = JsonFile::find(model, "unk_token")) {
    const std::string& piece = tj.string(*unk, "model.unk_token");
    const auto it = ids.find(piece);
    if (it == ids.end())
      tj.fail("model.unk_token", fmt::format("\"{}\" is not in the vocabulary", printable(piece)));
    v.unk_id = it->second;
    v.types[static_cast<std::size_t>(v.unk_id)] = TokenType::unknown;
  }

  v.scores.assign(v.size(), 0.0f);
  read_merges(tj, model, ids, v);
  v.add_space_prefix = read_space_prefix(tj);

  // Without tokenizer_config.json, bos/eos stay -1: the converter takes them from config.json.
  v.add_bos = true;
  v.add_eos = false;
  if (tokenizer_config_json) {
    const JsonFile tc(*tokenizer_config_json, config_file);
    v.bos_id = special_token_id(tc, "bos_token", ids);
    v.eos_id = special_token_id(tc, "eos_token", ids);
    v.pad_id = special_token_id(tc, "pad_token", ids);
    if (const std::int32_t unk = special_token_id(tc, "unk_token", ids);
        unk >= 0 && unk != v.unk_id)
      tc.fail("unk_token", fmt::format("is id {} but {} says model.unk_token is {}", unk, json_file,
                                       v.unk_id < 0 ? "null" : fmt::format("id {}", v.unk_id)));
    if (const json* b = JsonFile::find(tc.root(), "add_bos_token"))
      v.add_bos = tc.boolean(*b, "add_bos_token");
    if (const json* e = JsonFile::find(tc.root(), "add_eos_token"))
      v.add_eos = tc.boolean(*e, "add_eos_token");
  }
  return v;
}

}  // namespace mobilellm
