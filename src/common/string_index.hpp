#pragma once
// An index from strings to their positions in a std::vector<std::string>: open addressing with
// linear probing in one power-of-two table kept at most half full. Flat, where a
// std::unordered_map allocates a node per string: a model's 32,000-piece vocabulary is indexed
// (twice: by the file's validation and by the tokenizer) on every load.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mobilellm {

class StringIndex {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffu;

  StringIndex() = default;
  // An empty index over `strings`, room for all of them. `strings` must outlive the index and
  // not change while it is used. At most 2^31 strings (ids are below kNone).
  explicit StringIndex(const std::vector<std::string>& strings) : strings_(&strings) {
    std::size_t size = 16;
    while (size < 2 * strings.size()) size *= 2;
    slots_.assign(size, kNone);
  }

  // Indexes strings[id] (id < strings.size()) unless an equal string is indexed already: returns
  // kNone when added, else the id of the equal string, which keeps its place.
  std::uint32_t insert(std::uint32_t id) {
    const std::string& s = (*strings_)[id];
    std::size_t i = slot_of(s);
    if (slots_[i] != kNone) return slots_[i];
    slots_[i] = id;
    return kNone;
  }

  // The id of the indexed string equal to `s`, or kNone.
  std::uint32_t find(std::string_view s) const {
    return slots_.empty() ? kNone : slots_[slot_of(s)];
  }
  bool contains(std::string_view s) const { return find(s) != kNone; }

 private:
  // The slot holding `s`, or the empty slot where it would go.
  std::size_t slot_of(std::string_view s) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = std::hash<std::string_view>{}(s) & mask;
    while (slots_[i] != kNone && (*strings_)[slots_[i]] != s) i = (i + 1) & mask;
    return i;
  }

  const std::vector<std::string>* strings_ = nullptr;
  std::vector<std::uint32_t> slots_;
};

}  // namespace mobilellm
