// Encoding: normalisation, splitting into symbols, BPE merging, and emission with byte fallback
// (the rules are spelled out in include/mobilellm/tokenizer.hpp).
//
// Merging keeps the symbols in a doubly linked list over one vector and the candidate pairs in a
// queue ordered by (rank, position) (CandidateQueue below). A merge adds at most two candidates
// (with the new left and right neighbours), so the whole run is O(n log n). Candidates are never
// removed when a merge makes them obsolete; instead each records the byte length of the pair it
// joins, and a popped candidate whose left symbol and its right neighbour no longer add up to
// that length is skipped. That test is exact: symbols only ever grow, so the two still span the
// same bytes iff neither has changed.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "mobilellm/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/utf8_head.hpp"

namespace mobilellm {

using tokenizer_detail::read_utf8_head;
using tokenizer_detail::Utf8Head;

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 '▁'

// Longest text encode accepts. The normalised text has at most 3 bytes per input byte plus the
// dummy prefix, and at most one symbol per byte of it: both must fit Symbol's 32-bit fields.
constexpr std::size_t kMaxTextBytes = std::size_t{1} << 29;

// A span of the normalised text. size == 0 marks a symbol merged into its left neighbour.
struct Symbol {
  std::uint32_t begin;
  std::uint32_t size;
  std::int32_t id;    // piece id, or -1 when the span is no piece (byte fallback at the end)
  std::int32_t prev;  // neighbours in the list, -1 at the ends
  std::int32_t next;
  bool mergeable;  // false for user_defined matches and invalid bytes
};

// A pair of adjacent symbols that may merge. `order` packs (rank, left symbol index): lower merges
// first, and among equal ranks the leftmost pair (symbol indices follow the text).
struct Candidate {
  std::uint64_t order;
  std::int32_t result;  // the merged piece
  std::uint32_t size;   // bytes the pair spanned when it was queued
  std::int32_t left() const { return static_cast<std::int32_t>(order & 0xffffffffu); }
};

// The candidates in merge order. Those of the initial symbols are sorted once and read in
// order; those that merges create go to a heap. On long inputs nearly all candidates are
// initial, and most created ones are taken at once, so the heap stays small and the work is
// mostly sequential: 1 MB of one repeated character encodes in a fraction of a second, where a
// single heap holding every candidate would spend most of its time on cache misses.
class CandidateQueue {
 public:
  explicit CandidateQueue(std::vector<Candidate> initial) : initial_(std::move(initial)) {
    std::sort(initial_.begin(), initial_.end(),
              [](const Candidate& a, const Candidate& b) { return a.order < b.order; });
  }
  bool empty() const { return next_ == initial_.size() && created_.empty(); }
  void push(const Candidate& c) { created_.push(c); }
  Candidate pop() {
    if (next_ < initial_.size() &&
        (created_.empty() || initial_[next_].order <= created_.top().order))
      return initial_[next_++];
    const Candidate c = created_.top();
    created_.pop();
    return c;
  }

 private:
  struct Later {
    bool operator()(const Candidate& a, const Candidate& b) const { return a.order > b.order; }
  };
  std::vector<Candidate> initial_;
  std::size_t next_ = 0;
  std::priority_queue<Candidate, std::vector<Candidate>, Later> created_;
};

// The pair a merged unused piece was last built from, for SentencePiece's resegmentation.
struct Split {
  std::uint32_t begin;
  std::uint32_t left_size;
  std::uint32_t right_size;
};

}  // namespace

bool Tokenizer::Impl::has_byte_pieces(std::string_view text) const {
  for (const char c : text)
    if (byte_piece[static_cast<unsigned char>(c)] < 0) return false;
  return true;
}

void Tokenizer::Impl::emit_unknown(std::string_view text, std::vector<std::int32_t>& ids) const {
  if (has_byte_pieces(text)) {
    for (const char c : text) ids.push_back(byte_piece[static_cast<unsigned char>(c)]);
  } else {
    ids.push_back(unk);
  }
}

void Tokenizer::Impl::encode_into(std::string_view text, std::vector<std::int32_t>& ids) const {
  if (text.size() >= kMaxTextBytes)
    throw InvalidArgument("tokenizer: text of " + std::to_string(text.size()) +
                          " bytes is too long to encode (limit " + std::to_string(kMaxTextBytes) +
                          " bytes)");

  // 1. Normalise: dummy prefix, ' ' -> '▁'. Nothing else changes.
  std::string norm;
  norm.reserve(text.size() + (add_space_prefix ? kSpaceSymbol.size() : 0));
  if (add_space_prefix) norm.append(kSpaceSymbol);
  for (const char& c : text) norm.append(c == ' ' ? kSpaceSymbol : std::string_view(&c, 1));
  const std::string_view normalized = norm;

  // 2. Split into symbols.
  std::vector<Symbol> symbols;
  symbols.reserve(text.size() + 1);  // enough unless characters fall back to several bytes
  const auto add_symbol = [&](std::size_t begin, std::size_t size, std::int32_t id,
                              bool mergeable) {
    const auto index = static_cast<std::int32_t>(symbols.size());
    symbols.push_back(Symbol{static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(size),
                             id, index - 1, index + 1, mergeable});
  };
  for (std::size_t pos = 0; pos < normalized.size();) {
    const std::string_view rest = normalized.substr(pos);
    if (!user_defined.empty()) {
      const auto [length, id] = user_defined.longest_prefix(rest);
      if (length > 0) {
        add_symbol(pos, length, id, false);
        pos += length;
        continue;
      }
    }
    const Utf8Head head = read_utf8_head(rest);
    if (head.kind != Utf8Head::complete) {
      add_symbol(pos, 1, -1, false);  // invalid (or truncated) UTF-8: the byte stands alone
      ++pos;
      continue;
    }
    const std::string_view character = rest.substr(0, head.length);
    const std::int32_t id = find_text_piece(character);
    if (id < 0 && merges_by_pair) {
      // Hugging Face falls back to bytes before merging, and the byte pieces may merge; without
      // all the byte pieces the character is unknown and never merges.
      if (has_byte_pieces(character)) {
        for (std::size_t i = 0; i < head.length; ++i)
          add_symbol(pos + i, 1, byte_piece[static_cast<unsigned char>(rest[i])], true);
      } else {
        add_symbol(pos, head.length, -1, false);
      }
    } else {
      add_symbol(pos, head.length, id, true);
    }
    pos += head.length;
  }
  symbols.back().next = -1;

  // 3. Merge.
  std::unordered_map<std::int32_t, Split> unused_splits;  // filled only when has_unused
  // The candidate for merging symbols `left` and `right`, if they may merge.
  const auto candidate = [&](std::int32_t left, std::int32_t right) -> std::optional<Candidate> {
    if (left < 0 || right < 0) return std::nullopt;
    const Symbol& l = symbols[static_cast<std::size_t>(left)];
    const Symbol& r = symbols[static_cast<std::size_t>(right)];
    if (!l.mergeable || !r.mergeable) return std::nullopt;
    const std::uint32_t size = l.size + r.size;  // no overflow: spans of one text < 4 GiB
    std::uint32_t rank;
    std::int32_t result;
    if (merges_by_pair) {
      if (l.id < 0 || r.id < 0) return std::nullopt;
      const auto it = pair_merges.find(pair_key(l.id, r.id));
      if (it == pair_merges.end()) return std::nullopt;
      rank = static_cast<std::uint32_t>(it->second.rank);
      result = it->second.result;
    } else {
      if (size > longest_text_piece) return std::nullopt;
      result = find_text_piece(normalized.substr(l.begin, size));
      if (result < 0) return std::nullopt;
      rank = score_rank[static_cast<std::size_t>(result)];
      // SentencePiece records the pair every time it queues an unused piece; the last one wins.
      if (has_unused && types[static_cast<std::size_t>(result)] == TokenType::unused)
        unused_splits.insert_or_assign(result, Split{l.begin, l.size, r.size});
    }
    return Candidate{
        (std::uint64_t{rank} << 32) | static_cast<std::uint32_t>(left),
        result, size};
  };
  std::vector<Candidate> initial;
  for (std::size_t i = 1; i < symbols.size(); ++i)
    if (const auto c = candidate(static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i)))
      initial.push_back(*c);
  CandidateQueue queue(std::move(initial));

  while (!queue.empty()) {
    const Candidate top = queue.pop();
    const std::int32_t left = top.left();
    Symbol& l = symbols[static_cast<std::size_t>(left)];
    // Stale unless the left symbol is alive and it and its right neighbour still span top.size
    // bytes (both only ever grow, so then neither has changed).
    if (l.size == 0 || l.next < 0) continue;
    Symbol& r = symbols[static_cast<std::size_t>(l.next)];
    if (l.size + r.size != top.size) continue;
    l.size = top.size;
    l.id = top.result;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = left;
    r.size = 0;
    if (const auto c = candidate(l.prev, left)) queue.push(*c);
    if (const auto c = candidate(left, l.next)) queue.push(*c);
  }

  // 4. Emit. Symbol 0 is never merged away (merges absorb the right symbol).
  struct Span {
    std::uint32_t begin, size;
    std::int32_t id;
  };
  std::vector<Span> stack;  // for resegmenting unused pieces, innermost last
  for (std::int32_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<std::size_t>(i)];
    if (s.id < 0) {
      // A run of text with no piece (the list is in text order, so the run is contiguous).
      std::int32_t last = i;
      for (std::int32_t j = s.next; j >= 0 && symbols[static_cast<std::size_t>(j)].id < 0;
           j = symbols[static_cast<std::size_t>(j)].next)
        last = j;
      const Symbol& l = symbols[static_cast<std::size_t>(last)];
      emit_unknown(normalized.substr(s.begin, l.begin + l.size - s.begin), ids);
      i = last;
      continue;
    }
    stack.push_back(Span{s.begin, s.size, s.id});
    while (!stack.empty()) {
      const Span span = stack.back();
      stack.pop_back();
      if (span.id < 0) {
        emit_unknown(normalized.substr(span.begin, span.size), ids);
        continue;
      }
      if (has_unused && types[static_cast<std::size_t>(span.id)] == TokenType::unused) {
        const auto it = unused_splits.find(span.id);
        if (it != unused_splits.end()) {
          const Split& split = it->second;
          const std::uint32_t right_begin = split.begin + split.left_size;
          // The halves are looked up by text: they are spans of this same normalised text.
          stack.push_back(Span{right_begin, split.right_size,
                               find_text_piece(normalized.substr(right_begin, split.right_size))});
          stack.push_back(Span{split.begin, split.left_size,
                               find_text_piece(normalized.substr(split.begin, split.left_size))});
          continue;
        }
      }
      ids.push_back(span.id);
    }
  }
}

}  // namespace mobilellm
