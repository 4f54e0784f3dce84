// GGUF v3 container: a bounded reader over untrusted bytes and a streaming writer.
// The container rules (and what mobilellm stores in it) are specified in models/README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "mobilellm/model_file.hpp"

namespace mobilellm::gguf {

inline constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr std::uint32_t kVersion = 3;
inline constexpr std::uint64_t kDefaultAlignment = 64;
inline constexpr const char* kAlignmentKey = "general.alignment";

enum class ValueType : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* value_type_name(ValueType t) noexcept;  // "u8", ..., "string", "array", "f64"

// An array value: element type plus the elements in the one vector that matches it (the other two
// stay empty). Integers and booleans are widened to int64 (u64 values above INT64_MAX are
// rejected by the reader), f32 and f64 to double.
struct Array {
  ValueType type = ValueType::u8;
  std::vector<std::int64_t> ints;     // u8..i64, boolean (0 or 1)
  std::vector<double> floats;         // f32, f64
  std::vector<std::string> strings;   // string
  std::size_t size() const;
  friend bool operator==(const Array&, const Array&) = default;
};

// A scalar or array value. The alternative held depends on `type`: std::uint64_t for u8/u16/u32/u64,
// std::int64_t for i8/i16/i32/i64, double for f32/f64, bool, std::string, Array. Build values with
// the factories below, which always pair the two correctly.
struct Value {
  ValueType type = ValueType::u8;
  std::variant<std::int64_t, std::uint64_t, double, bool, std::string, Array> v;

  static Value u8(std::uint8_t x) { return {ValueType::u8, std::uint64_t{x}}; }
  static Value u16(std::uint16_t x) { return {ValueType::u16, std::uint64_t{x}}; }
  static Value u32(std::uint32_t x) { return {ValueType::u32, std::uint64_t{x}}; }
  static Value u64(std::uint64_t x) { return {ValueType::u64, x}; }
  static Value i8(std::int8_t x) { return {ValueType::i8, std::int64_t{x}}; }
  static Value i16(std::int16_t x) { return {ValueType::i16, std::int64_t{x}}; }
  static Value i32(std::int32_t x) { return {ValueType::i32, std::int64_t{x}}; }
  static Value i64(std::int64_t x) { return {ValueType::i64, x}; }
  static Value f32(float x) { return {ValueType::f32, double{x}}; }
  static Value f64(double x) { return {ValueType::f64, x}; }
  static Value boolean(bool x) { return {ValueType::boolean, x}; }
  static Value string(std::string x) { return {ValueType::string, std::move(x)}; }
  static Value array(Array x) { return {ValueType::array, std::move(x)}; }
  static Value string_array(std::vector<std::string> x);
  static Value f32_array(const std::vector<float>& x);
  static Value i32_array(const std::vector<std::int32_t>& x);
  friend bool operator==(const Value&, const Value&) = default;
};

struct KeyValue {
  std::string key;
  Value value;
  std::uint64_t offset = 0;        // where the key-value pair starts in the file
  std::uint64_t value_offset = 0;  // where its value starts (after the u32 value type)
};

struct TensorInfo {
  std::string name;
  TensorType type = TensorType::f32;
  std::vector<std::uint64_t> dims;  // dims[0] fastest
  std::uint64_t offset = 0;         // relative to the start of the data section
  std::uint64_t nbytes = 0;
  std::uint64_t info_offset = 0;    // where this tensor's info starts in the file
};

// Limits on what an untrusted header may ask for (all far above any real MobileLLM file).
// Every count is also checked against the bytes left in the file before anything is allocated.
struct Limits {
  std::uint64_t max_kv_count = 1u << 16;
  std::uint64_t max_tensor_count = 1u << 16;
  std::uint64_t max_string_length = 1u << 20;  // keys, tensor names and string values
  std::uint64_t max_array_length = 1u << 24;
  std::uint32_t max_dims = 4;
};

struct Container {
  std::string file;  // for messages
  std::uint32_t version = 0;
  std::uint64_t alignment = kDefaultAlignment;
  std::vector<KeyValue> kvs;        // in file order
  std::vector<TensorInfo> tensors;  // in file order
  std::uint64_t data_offset = 0;    // absolute start of the data section

  // Linear searches (containers hold tens of keys and hundreds of tensors); nullptr when absent.
  const KeyValue* find(const std::string& key) const;
  const TensorInfo* find_tensor(const std::string& name) const;
};

// Parses and validates the container: magic, version, counts, every key/value (types, lengths,
// UTF-8 names, duplicates), general.alignment, tensor infos (names, types, dims, element-count
// overflow, alignment, extents inside the file, no overlap, no duplicates). Throws FormatError
// naming `file`, the field and the offset. Never reads outside `bytes`, never allocates more
// than the input can justify.
Container parse(std::span<const std::uint8_t> bytes, const std::string& file,
                const Limits& limits = {});

// Where a Writer put each part of the file (absolute offsets). The fixed-size fields of an entry
// follow from its start and its name, so tests can patch any field of a valid file in place.
struct Layout {
  struct Kv {
    std::string key;
    std::uint64_t offset = 0;  // the u64 key length; the key bytes follow
    std::uint64_t type_offset() const { return offset + 8 + key.size(); }   // u32 value type
    std::uint64_t value_offset() const { return type_offset() + 4; }        // the value
  };
  struct Tensor {
    std::string name;
    std::uint32_t n_dims = 0;
    std::uint64_t info_offset = 0;  // the u64 name length; the name bytes follow
    std::uint64_t data_offset = 0;  // absolute offset of the tensor's data
    std::uint64_t nbytes = 0;
    std::uint64_t n_dims_offset() const { return info_offset + 8 + name.size(); }  // u32
    std::uint64_t dims_offset() const { return n_dims_offset() + 4; }             // u64[n_dims]
    std::uint64_t type_offset() const { return dims_offset() + 8ull * n_dims; }   // u32
    std::uint64_t offset_offset() const { return type_offset() + 4; }  // u64, data-relative
  };
  // Header fields sit at fixed offsets: magic 0, version 4, tensor_count 8, kv_count 16.
  std::vector<Kv> kvs;
  std::vector<Tensor> tensors;
  std::uint64_t data_offset = 0;  // start of the data section
  std::uint64_t file_size = 0;
};

// Streaming writer. Tensor data is produced by a callback at write time, so a multi-GB model
// is never held in memory twice. Every add_* validates its input and throws InvalidArgument for
// anything `parse` (with default Limits) would reject: invalid or duplicate names, values whose
// alternative does not match their type, nested arrays, bad dims. The writer therefore only
// produces well-formed containers; tests that need malformed ones patch a valid file's bytes.
class Writer {
 public:
  // Data alignment: a power of two, default 64. If the general.alignment key is added it must be
  // a u32 equal to this; if it is absent the alignment must be the default (what readers assume).
  void set_alignment(std::uint64_t a);

  void add(const std::string& key, Value value);  // pairs are written in the order added
  void add_u32(const std::string& key, std::uint32_t v) { add(key, Value::u32(v)); }
  void add_i32(const std::string& key, std::int32_t v) { add(key, Value::i32(v)); }
  void add_u64(const std::string& key, std::uint64_t v) { add(key, Value::u64(v)); }
  void add_f32(const std::string& key, float v) { add(key, Value::f32(v)); }
  void add_bool(const std::string& key, bool v) { add(key, Value::boolean(v)); }
  void add_string(const std::string& key, const std::string& v) { add(key, Value::string(v)); }
  void add_string_array(const std::string& key, const std::vector<std::string>& v) {
    add(key, Value::string_array(v));
  }
  void add_f32_array(const std::string& key, const std::vector<float>& v) {
    add(key, Value::f32_array(v));
  }
  void add_i32_array(const std::string& key, const std::vector<std::int32_t>& v) {
    add(key, Value::i32_array(v));
  }

  using Fill = std::function<void(std::span<std::byte> out)>;  // must fill all of `out`
  void add_tensor(const std::string& name, TensorType type, std::vector<std::uint64_t> dims,
                  Fill fill);

  // Writes the file atomically (temp + rename). `progress(i, n, name)` before each tensor.
  Layout write(const std::string& path,
               const std::function<void(std::size_t, std::size_t, const std::string&)>& progress =
                   {}) const;
  // Serializes the whole container into `out` (replacing its contents); for tests and small files.
  Layout write_to(std::vector<std::uint8_t>& out) const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<std::uint64_t> dims;
    std::uint64_t nbytes;
    Fill fill;
  };
  // Serializes the header (everything before the data section) and computes the layout.
  Layout serialize_header(std::vector<std::uint8_t>& out) const;

  std::uint64_t alignment_ = kDefaultAlignment;
  std::vector<std::pair<std::string, Value>> kvs_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace mobilellm::gguf
