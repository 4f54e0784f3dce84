// safetensors reader (single file and sharded index). See safetensors.hpp for the rules.
#include "convert/safetensors.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "common/byte_reader.hpp"
#include "common/checked.hpp"
#include "common/utf8.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the limit the reference reader applies
constexpr std::uint64_t kMaxIndexBytes = 64ull << 20;
constexpr std::size_t kMaxDims = 8;
constexpr int kMaxJsonDepth = 16;  // headers nest 3 deep; this leaves room and bounds the parser
constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kIndexName = "model.safetensors.index.json";

// nlohmann's what() reads "[json.exception.KIND.N] detail": keep the detail.
std::string json_error_text(const json::exception& e) {
  std::string_view what = e.what();
  if (const auto pos = what.find("] "); pos != std::string_view::npos) what.remove_prefix(pos + 2);
  return std::string(what);
}

// Parses `text` as JSON. nlohmann keeps the last of duplicate keys silently; a parser callback
// rejects them instead, and rejects nesting deeper than kMaxJsonDepth. Every nlohmann exception
// becomes a FormatError; syntax errors carry the byte offset `base` + position.
json parse_json_strictly(std::string_view text, const std::string& file, const std::string& field,
                         std::uint64_t base) {
  std::vector<std::set<std::string>> keys;  // the keys seen so far in each open object
  const json::parser_callback_t check = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth)
          throw FormatError(file, field,
                            fmt::format("JSON nests deeper than {} levels", kMaxJsonDepth));
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end: keys.pop_back(); break;
      case json::parse_event_t::key:
        if (!keys.back().insert(parsed.get<std::string>()).second)
          throw FormatError(file, field,
                            "duplicate key '" + printable(parsed.get<std::string>()) + "'");
        break;
      default: break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const json::parse_error& e) {
    throw FormatError(file, field, "invalid JSON: " + json_error_text(e), base + e.byte);
  } catch (const json::exception& e) {  // e.g. out_of_range: a number beyond double ("1e400")
    throw FormatError(file, field, "invalid JSON: " + json_error_text(e), base);
  }
}

const char* json_type(const json& v) { return v.type_name(); }

// A JSON value as it may appear in a message: compact, escaped and cut short.
std::string brief(const json& v) { return printable(v.dump(), 48); }

std::string tensor_field(std::string_view name) { return "tensor '" + printable(name) + "'"; }

std::optional<SourceDType> parse_dtype(std::string_view s) {
  if (s == "F32") return SourceDType::f32;
  if (s == "F16") return SourceDType::f16;
  if (s == "BF16") return SourceDType::bf16;
  return std::nullopt;
}

// One header entry, validated on its own (placement in the data area is checked afterwards).
struct Entry {
  std::string name;
  SourceDType dtype = SourceDType::f32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const json& value, const std::string& file) {
  const std::string field = tensor_field(name);
  auto error = [&](const std::string& detail) { return FormatError(file, field, detail); };
  if (name.empty() || !is_valid_name(name)) throw error("the name is empty or contains NUL");
  if (!value.is_object())
    throw error(fmt::format("is a JSON {}; expected an object with dtype, shape and data_offsets",
                            json_type(value)));
  for (const auto& item : value.items()) {
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      throw error("unexpected key '" + printable(item.key()) + "'");
  }
  auto member = [&](const char* key) -> const json& {
    const auto it = value.find(key);
    if (it == value.end()) throw error(fmt::format("has no \"{}\"", key));
    return *it;
  };

  Entry e;
  e.name = name;
  const json& dtype = member("dtype");
  if (!dtype.is_string())
    throw error(fmt::format("dtype is a JSON {}, not a string", json_type(dtype)));
  const auto parsed = parse_dtype(dtype.get_ref<const std::string&>());
  if (!parsed)
    throw error("dtype '" + printable(dtype.get_ref<const std::string&>()) +
                "' is not supported: only F32, F16 and BF16 tensors can be read");
  e.dtype = *parsed;

  const json& shape = member("shape");
  if (!shape.is_array() || shape.size() > kMaxDims)
    throw error(fmt::format("shape must be an array of at most {} dimensions", kMaxDims));
  std::uint64_t numel = 1;
  for (const json& d : shape) {
    if (!d.is_number_unsigned())
      throw error("shape value " + brief(d) + " is not a non-negative integer");
    const auto dim = d.get<std::uint64_t>();
    e.shape.push_back(dim);
    const auto product = checked_mul(numel, dim);
    if (!product) throw error("shape " + brief(shape) + " has more elements than fit in 64 bits");
    numel = *product;
  }
  const auto nbytes = checked_mul(numel, source_dtype_size(e.dtype));
  if (!nbytes) throw error("shape " + brief(shape) + " has more bytes than fit in 64 bits");

  const json& offsets = member("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw error("data_offsets " + brief(offsets) + " is not a pair of non-negative integers");
  e.begin = offsets[0].get<std::uint64_t>();
  e.end = offsets[1].get<std::uint64_t>();
  if (e.end < e.begin)
    throw error(fmt::format("data_offsets [{}, {}] end before they begin", e.begin, e.end));
  if (e.end - e.begin != *nbytes)
    throw error(fmt::format("data_offsets [{}, {}] span {} bytes, but {} {} of shape {} need {}",
                            e.begin, e.end, e.end - e.begin, numel, source_dtype_name(e.dtype),
                            brief(shape), *nbytes));
  return e;
}

void check_metadata(const json& metadata, const std::string& file) {
  if (!metadata.is_object())
    throw FormatError(file, kMetadataKey,
                      fmt::format("is a JSON {}, not an object", json_type(metadata)));
  for (const auto& item : metadata.items()) {
    if (!item.value().is_string())
      throw FormatError(file, kMetadataKey,
                        fmt::format("value of '{}' is a JSON {}, not a string",
                                    printable(item.key()), json_type(item.value())));
  }
}

// A shard name must name a file directly inside the checkpoint folder.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && is_valid_name(name) && name.find('/') == std::string::npos &&
         name.find("..") == std::string::npos;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

std::vector<SourceTensor> read_safetensors(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  ByteReader r(file->bytes(), path);
  const std::uint64_t header_size = r.u64("header length");
  if (header_size > kMaxHeaderBytes)
    r.fail("header length",
           fmt::format("{} bytes is more than the limit of {}", header_size, kMaxHeaderBytes));
  if (header_size > r.remaining())
    r.fail("header length",
           fmt::format("{} bytes, but only {} bytes follow", header_size, r.remaining()));
  const std::uint64_t header_offset = r.offset();
  const auto header_bytes = r.bytes(header_size, "header");
  const std::uint64_t data_offset = r.offset();
  const std::uint64_t data_size = r.remaining();

  const json header = parse_json_strictly(
      std::string_view(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size()),
      path, "header", header_offset);
  if (!header.is_object())
    throw FormatError(path, "header", fmt::format("is a JSON {}, not an object", json_type(header)),
                      header_offset);

  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == kMetadataKey) {
      check_metadata(item.value(), path);
      continue;
    }
    Entry e = parse_entry(item.key(), item.value(), path);
    if (e.end > data_size)
      throw FormatError(path, tensor_field(e.name),
                        fmt::format("data_offsets [{}, {}] run past the {}-byte data area", e.begin,
                                    e.end, data_size));
    entries.push_back(std::move(e));
  }

  // The tensors must tile the data area: sorted by position, each begins where the previous
  // ended (empty tensors sort before a non-empty one at the same offset), the last ends at the end.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      throw FormatError(path, tensor_field(e.name),
                        fmt::format("data_offsets [{}, {}] overlap tensor '{}' (which ends at {})",
                                    e.begin, e.end, printable(previous->name), covered));
    if (e.begin > covered)
      throw FormatError(path, tensor_field(e.name),
                        fmt::format("data_offsets [{}, {}] leave bytes {}..{} of the data area "
                                    "unused",
                                    e.begin, e.end, covered, e.begin));
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    throw FormatError(path, "data",
                      fmt::format("{} bytes after the last tensor are not described by the header",
                                  data_size - covered),
                      data_offset + covered);

  std::vector<SourceTensor> tensors;
  tensors.reserve(entries.size());
  for (Entry& e : entries) {
    tensors.push_back(SourceTensor{std::move(e.name), e.dtype, std::move(e.shape),
                                   file->bytes().subspan(data_offset + e.begin, e.end - e.begin),
                                   file});
  }
  return tensors;
}

std::vector<SourceTensor> read_sharded_safetensors(const std::string& dir) {
  const std::string index_path = join_path(dir, kIndexName);
  const std::string text = read_text_file(index_path, kMaxIndexBytes);
  const json index = parse_json_strictly(text, index_path, "index", 0);
  if (!index.is_object())
    throw FormatError(index_path, "index",
                      fmt::format("is a JSON {}, not an object", json_type(index)));
  for (const auto& item : index.items()) {
    if (item.key() == "metadata") {
      if (!item.value().is_object())
        throw FormatError(index_path, "metadata",
                          fmt::format("is a JSON {}, not an object", json_type(item.value())));
    } else if (item.key() != "weight_map") {
      throw FormatError(index_path, "index",
                        "unexpected key '" + printable(item.key()) +
                            "' (expected \"metadata\" and \"weight_map\")");
    }
  }
  const auto map_it = index.find("weight_map");
  if (map_it == index.end()) throw FormatError(index_path, "weight_map", "is missing");
  if (!map_it->is_object() || map_it->empty())
    throw FormatError(index_path, "weight_map", "must be a non-empty object");

  struct Shard {
    std::set<std::string> tensors;  // the names the index puts in this shard
    std::shared_ptr<const MappedFile> file;
  };
  std::map<std::string, Shard> shards;  // by file name
  for (const auto& item : map_it->items()) {
    const std::string field = "weight_map: " + tensor_field(item.key());
    if (!item.value().is_string())
      throw FormatError(
          index_path, field,
          fmt::format("shard is a JSON {}, not a file name", json_type(item.value())));
    const auto& shard = item.value().get_ref<const std::string&>();
    if (!is_plain_file_name(shard))
      throw FormatError(index_path, field,
                        "shard '" + printable(shard) +
                            "' is not a plain file name (it must not be empty or contain '/', "
                            "'..' or NUL)");
    shards[shard].tensors.insert(item.key());
  }
  // Map every shard before reading any, so that a missing file is reported as such (IoError)
  // whichever order the shards come in.
  for (auto& [name, shard] : shards) shard.file = MappedFile::open(join_path(dir, name));

  std::vector<SourceTensor> tensors;
  for (const auto& [name, shard] : shards) {
    std::vector<SourceTensor> found = read_safetensors(shard.file);
    for (const SourceTensor& t : found) {
      if (shard.tensors.count(t.name)) continue;
      const auto mapped = map_it->find(t.name);
      throw FormatError(shard.file->path(), tensor_field(t.name),
                        mapped == map_it->end()
                            ? std::string("is not listed in the index's weight_map")
                            : "the index's weight_map puts it in shard '" +
                                  printable(mapped->get_ref<const std::string&>()) + "'");
    }
    std::set<std::string> missing = shard.tensors;
    for (const SourceTensor& t : found) missing.erase(t.name);
    if (!missing.empty())
      throw FormatError(index_path, "weight_map: " + tensor_field(*missing.begin()),
                        "shard '" + printable(name) + "' does not contain it");
    for (SourceTensor& t : found) tensors.push_back(std::move(t));
  }
  return tensors;
}

}  // namespace mobilellm
