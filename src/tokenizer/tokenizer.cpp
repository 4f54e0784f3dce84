// Tokenizer construction (validating the vocabulary and building the lookup tables), accessors,
// and decoding. Encoding is in encode.cpp; the rules both follow are in tokenizer.hpp.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "common/utf8.hpp"
#include "mobilellm/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/utf8_head.hpp"

namespace mobilellm {

using tokenizer_detail::Merge;
using tokenizer_detail::read_utf8_head;
using tokenizer_detail::Utf8Head;

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";           // U+2581 '▁'
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // " ⁇ ", SentencePiece's default

[[noreturn]] void bad_vocabulary(const std::string& detail) {
  throw InvalidArgument("tokenizer vocabulary: " + detail);
}

std::string describe_piece(std::size_t id, std::string_view piece) {
  return "piece " + std::to_string(id) + " \"" + printable(piece) + "\"";
}

// The byte of a "<0xNN>" piece (either case of hex digit), or -1.
int parse_byte_piece(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  const auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(p[3]), lo = hex(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// A higher score gives a smaller key, equal scores (+0 and -0 included) the same key.
std::uint32_t merge_key_of_score(float score) {
  if (std::isnan(score)) score = -std::numeric_limits<float>::infinity();
  if (score == 0.0f) score = 0.0f;
  const auto bits = std::bit_cast<std::uint32_t>(score);
  const std::uint32_t ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
  return ~ascending;
}

bool is_text_piece(TokenType t) {
  return t == TokenType::normal || t == TokenType::user_defined || t == TokenType::unused;
}

// Appends `piece` to `out` with every '▁' turned back into a space.
void append_surface(std::string_view piece, std::string& out) {
  for (std::size_t pos = 0;;) {
    const std::size_t hit = piece.find(kSpaceSymbol, pos);
    if (hit == std::string_view::npos) {
      out.append(piece.substr(pos));
      return;
    }
    out.append(piece.substr(pos, hit - pos));
    out.push_back(' ');
    pos = hit + kSpaceSymbol.size();
  }
}

}  // namespace

// ------------------------------------------------------------------------------- PieceTrie

namespace tokenizer_detail {

void PieceTrie::insert(std::string_view text, std::int32_t id) {
  std::uint32_t node = 0;
  for (const char c : text) {
    const auto [it, added] = edges_.try_emplace(edge_key(node, static_cast<unsigned char>(c)),
                                                static_cast<std::uint32_t>(nodes_.size()));
    if (added) nodes_.push_back(-1);
    node = it->second;
  }
  nodes_[node] = id;
}

std::pair<std::size_t, std::int32_t> PieceTrie::longest_prefix(std::string_view text) const {
  std::pair<std::size_t, std::int32_t> best{0, -1};
  std::uint32_t node = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto it = edges_.find(edge_key(node, static_cast<unsigned char>(text[i])));
    if (it == edges_.end()) break;
    node = it->second;
    if (nodes_[node] >= 0) best = {i + 1, nodes_[node]};
  }
  return best;
}

}  // namespace tokenizer_detail

// ---------------------------------------------------------------------------- construction

Tokenizer::Tokenizer(const Vocabulary& vocab) {
  auto m = std::make_unique<Impl>();
  const std::size_t n = vocab.pieces.size();
  if (n == 0) bad_vocabulary("no pieces");
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    bad_vocabulary(std::to_string(n) + " pieces, more than ids can number");
  if (vocab.scores.size() != n || vocab.types.size() != n)
    bad_vocabulary(std::to_string(n) + " pieces but " + std::to_string(vocab.scores.size()) +
                   " scores and " + std::to_string(vocab.types.size()) + " token types");
  const auto check_special = [n](const char* what, std::int32_t id) {
    if (id < -1 || (id >= 0 && static_cast<std::size_t>(id) >= n))
      bad_vocabulary(std::string(what) + " id " + std::to_string(id) + " is outside [0, " +
                     std::to_string(n) + ")");
  };
  check_special("BOS", vocab.bos_id);
  check_special("EOS", vocab.eos_id);
  check_special("unknown", vocab.unk_id);

  m->pieces = vocab.pieces;
  m->types = vocab.types;
  m->bos = vocab.bos_id;
  m->eos = vocab.eos_id;
  m->unk = vocab.unk_id;
  m->add_bos = vocab.add_bos;
  m->add_space_prefix = vocab.add_space_prefix;
  m->byte_piece.fill(-1);
  m->byte_value.assign(n, -1);
  m->text_pieces = StringIndex(m->pieces);

  for (std::size_t id = 0; id < n; ++id) {
    const std::string_view piece = m->pieces[id];
    const TokenType type = m->types[id];
    const auto type_number = static_cast<std::int32_t>(type);
    if (type_number < static_cast<std::int32_t>(TokenType::normal) ||
        type_number > static_cast<std::int32_t>(TokenType::byte))
      bad_vocabulary(describe_piece(id, piece) + " has token type " + std::to_string(type_number) +
                     " (expected 1..6)");
    const auto id32 = static_cast<std::int32_t>(id);
    if (type == TokenType::byte) {
      const int b = parse_byte_piece(piece);
      if (b < 0) bad_vocabulary(describe_piece(id, piece) + " has type byte but is not <0xNN>");
      if (m->byte_piece[b] >= 0)
        bad_vocabulary(describe_piece(id, piece) + " repeats the byte of piece " +
                       std::to_string(m->byte_piece[b]));
      m->byte_piece[b] = id32;
      m->byte_value[id] = static_cast<std::int16_t>(b);
    } else if (is_text_piece(type)) {
      if (piece.empty()) bad_vocabulary("piece " + std::to_string(id) + " is empty");
      if (const std::uint32_t first = m->text_pieces.insert(static_cast<std::uint32_t>(id));
          first != StringIndex::kNone)
        bad_vocabulary(describe_piece(id, piece) + " repeats piece " + std::to_string(first));
      m->longest_text_piece = std::max(m->longest_text_piece, piece.size());
      if (type == TokenType::user_defined) m->user_defined.insert(piece, id32);
      if (type == TokenType::unused) m->has_unused = true;
    }
  }
  if (m->unk < 0) {
    const auto missing = std::find(m->byte_piece.begin(), m->byte_piece.end(), -1);
    if (missing != m->byte_piece.end())
      bad_vocabulary("byte " + std::to_string(missing - m->byte_piece.begin()) +
                     " has no <0xNN> piece and there is no unknown piece to stand in for it");
  }

  if (!vocab.merges.empty()) {
    // Hugging Face: the merge list decides. Pieces named in merges may be of any type (merges of
    // byte pieces are legal); the result must be a piece text can produce.
    m->merges_by_pair = true;
    if (vocab.merges.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      bad_vocabulary(std::to_string(vocab.merges.size()) + " merges, more than ranks can number");
    std::unordered_map<std::string_view, std::int32_t> any_piece;  // first id of each text
    for (std::size_t id = 0; id < n; ++id)
      any_piece.emplace(m->pieces[id], static_cast<std::int32_t>(id));
    const auto lookup = [&](std::string_view s) {
      const auto it = any_piece.find(s);
      return it == any_piece.end() ? -1 : it->second;
    };
    std::string joined;
    for (std::size_t rank = 0; rank < vocab.merges.size(); ++rank) {
      const std::string_view merge = vocab.merges[rank];
      const auto where = [&] {
        return "merge " + std::to_string(rank) + " \"" + printable(merge) + "\"";
      };
      const std::size_t space = merge.find(' ');
      if (space == std::string_view::npos || space == 0 || space + 1 == merge.size() ||
          merge.find(' ', space + 1) != std::string_view::npos)
        bad_vocabulary(where() + " is not \"left right\"");
      const std::string_view left = merge.substr(0, space), right = merge.substr(space + 1);
      const std::int32_t left_id = lookup(left), right_id = lookup(right);
      if (left_id < 0 || right_id < 0)
        bad_vocabulary(where() + " names a piece that is not in the vocabulary");
      joined.assign(left).append(right);
      const std::int32_t result = m->find_text_piece(joined);
      if (result < 0)
        bad_vocabulary(where() + " joins into \"" + printable(joined) +
                       "\", which is not a normal, user-defined or unused piece");
      // A repeated pair takes its last rank, as Hugging Face's merge table does.
      m->pair_merges.insert_or_assign(Impl::pair_key(left_id, right_id),
                                      Merge{static_cast<std::int32_t>(rank), result});
    }
  } else {
    // SentencePiece: higher score merges first, and equal scores tie, so that ties fall to the
    // leftmost pair exactly as in SentencePiece. The merge key is an order-reversing map of the
    // score into unsigned integers (no sort needed); a NaN score ranks with -infinity.
    m->score_rank.assign(n, 0);
    for (std::size_t id = 0; id < n; ++id)
      if (is_text_piece(m->types[id])) m->score_rank[id] = merge_key_of_score(vocab.scores[id]);
  }
  impl_ = std::move(m);
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

// ------------------------------------------------------------------------------- accessors

void Tokenizer::Impl::check_id(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= pieces.size())
    throw InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                          std::to_string(pieces.size()) + ")");
}

std::string_view Tokenizer::piece(std::int32_t id) const {
  impl_->check_id(id);
  return impl_->pieces[static_cast<std::size_t>(id)];
}

TokenType Tokenizer::type(std::int32_t id) const {
  impl_->check_id(id);
  return impl_->types[static_cast<std::size_t>(id)];
}

std::int32_t Tokenizer::bos() const { return impl_->bos; }
std::int32_t Tokenizer::eos() const { return impl_->eos; }
std::int32_t Tokenizer::unk() const { return impl_->unk; }
std::size_t Tokenizer::size() const { return impl_->pieces.size(); }
bool Tokenizer::add_bos() const { return impl_->add_bos; }

// -------------------------------------------------------------------------------- encoding

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<std::int32_t> ids;
  if (add_bos) {
    if (impl_->bos < 0)
      throw InvalidArgument("tokenizer: BOS requested but the vocabulary has none");
    ids.push_back(impl_->bos);
  }
  if (!text.empty()) impl_->encode_into(text, ids);
  return ids;
}

// -------------------------------------------------------------------------------- decoding

void Tokenizer::Impl::drain_bytes(std::string& pending, bool final, std::string& out) {
  // `pending` is at most a few bytes, so erasing from the front is cheap.
  while (!pending.empty()) {
    const Utf8Head head = read_utf8_head(pending);
    if (head.kind == Utf8Head::incomplete && !final) return;
    if (head.kind == Utf8Head::complete) {
      out.append(pending, 0, head.length);
      pending.erase(0, head.length);
    } else {
      out.append(kReplacementCharacter);
      pending.erase(0, 1);
    }
  }
}

void Tokenizer::Impl::decode_one(std::int32_t id, std::string& pending, bool& at_start,
                                 std::string& out) const {
  check_id(id);
  const auto index = static_cast<std::size_t>(id);
  const TokenType t = types[index];
  if (t == TokenType::byte) {
    pending.push_back(static_cast<char>(byte_value[index]));
    at_start = false;
    drain_bytes(pending, /*final=*/false, out);
    return;
  }
  drain_bytes(pending, /*final=*/true, out);  // any other piece ends a run of byte pieces
  if (t == TokenType::control) return;
  if (t == TokenType::unknown) {
    out.append(kUnknownSurface);
    at_start = false;
    return;
  }
  std::string_view text = pieces[index];
  if (at_start && add_space_prefix && text.starts_with(kSpaceSymbol))
    text.remove_prefix(kSpaceSymbol.size());
  at_start = false;
  append_surface(text, out);
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::string out, pending;
  bool at_start = true;
  for (const std::int32_t id : ids) impl_->decode_one(id, pending, at_start, out);
  Impl::drain_bytes(pending, /*final=*/true, out);
  return out;
}

Tokenizer::StreamDecoder::StreamDecoder(const Tokenizer& tokenizer)
    : tokenizer_(tokenizer.impl_.get()) {}

std::string Tokenizer::StreamDecoder::push(std::int32_t id) {
  std::string out;
  tokenizer_->decode_one(id, pending_, at_start_, out);
  return out;
}

std::string Tokenizer::StreamDecoder::finish() {
  std::string out;
  Impl::drain_bytes(pending_, /*final=*/true, out);
  at_start_ = true;
  return out;
}

}  // namespace mobilellm
