// GGUF v3 reader and writer. See models/README.md for the byte layout.
//
// The reader treats its input as hostile: every length and count is checked against both a limit
// and the bytes that remain before anything is allocated, every size computation is overflow
// checked, and every failure is a FormatError naming the field and the offset where it starts.
#include "format/gguf.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>
#include <string_view>
#include <unordered_set>

#include <fmt/core.h>

#include "common/byte_reader.hpp"
#include "common/checked.hpp"
#include "common/file.hpp"
#include "common/utf8.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::gguf {

namespace {

// Smallest possible encodings, used to bound counts by the bytes that remain.
constexpr std::uint64_t kMinKvBytes = 8 + 1 + 4 + 1;  // key length, 1-byte key, type, 1-byte value
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, 1 dim, type, offset
constexpr std::uint64_t kHeaderBytes = 4 + 4 + 8 + 8;  // magic, version, tensor_count, kv_count

bool is_known_value_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(ValueType::f64); }

// The fewest bytes a value of type `t` can occupy: a scalar's size, a string's 8-byte length, an
// array's element type and count.
std::uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
    case ValueType::u16: case ValueType::i16: return 2;
    case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
    case ValueType::u64: case ValueType::i64: case ValueType::f64: return 8;
    case ValueType::string: return 8;
    case ValueType::array: return 4 + 8;
  }
  return 1;
}

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::u8: case ValueType::i8: case ValueType::u16: case ValueType::i16:
    case ValueType::u32: case ValueType::i32: case ValueType::u64: case ValueType::i64:
      return true;
    default:
      return false;
  }
}

bool is_unsigned_type(ValueType t) {
  return t == ValueType::u8 || t == ValueType::u16 || t == ValueType::u32 || t == ValueType::u64;
}

bool is_float_type(ValueType t) { return t == ValueType::f32 || t == ValueType::f64; }

// The range of an integer type, as [lo, hi] in the widened representation the type uses.
struct IntRange {
  std::int64_t lo;
  std::uint64_t hi;
};
IntRange int_range(ValueType t) {
  switch (t) {
    case ValueType::u8: return {0, 0xff};
    case ValueType::i8: return {-128, 127};
    case ValueType::u16: return {0, 0xffff};
    case ValueType::i16: return {-32768, 32767};
    case ValueType::u32: return {0, 0xffffffffu};
    case ValueType::i32: return {std::numeric_limits<std::int32_t>::min(),
                                 std::numeric_limits<std::int32_t>::max()};
    case ValueType::u64: return {0, std::numeric_limits<std::uint64_t>::max()};
    case ValueType::i64: return {std::numeric_limits<std::int64_t>::min(),
                                 std::numeric_limits<std::int64_t>::max()};
    case ValueType::boolean: return {0, 1};
    default: return {0, 0};
  }
}

bool is_known_tensor_type(std::uint32_t t) {
  return tensor_type_size(static_cast<TensorType>(t)) != 0;
}

bool is_power_of_two(std::uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

std::string dims_string(const std::vector<std::uint64_t>& dims) {
  std::string s = "{";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "}";
}

// Element count and byte size of a tensor, or nullopt when either overflows 64 bits.
std::optional<std::uint64_t> tensor_nbytes(TensorType type, const std::vector<std::uint64_t>& dims) {
  std::uint64_t n = 1;
  for (auto d : dims) {
    auto m = checked_mul(n, d);
    if (!m) return std::nullopt;
    n = *m;
  }
  return checked_mul(n, tensor_type_size(type));
}

class Parser {
 public:
  Parser(std::span<const std::uint8_t> bytes, const std::string& file, const Limits& limits)
      : r_(bytes, file), limits_(limits), size_(bytes.size()) {}

  Container run() {
    Container c;
    c.file = r_.file();

    const std::uint32_t magic = r_.u32("header.magic");
    if (magic != kMagic)
      fail(0, "header.magic",
           fmt::format("expected \"GGUF\" (0x{:08x}), found 0x{:08x}", kMagic, magic));
    c.version = r_.u32("header.version");
    if (c.version != kVersion)
      fail(4, "header.version",
           fmt::format("unsupported GGUF version {} (mobilellm reads version {} only)", c.version,
                       kVersion));
    const std::uint64_t tensor_count = r_.u64("header.tensor_count");
    const std::uint64_t kv_count = r_.u64("header.kv_count");
    if (tensor_count > limits_.max_tensor_count)
      fail(8, "header.tensor_count",
           fmt::format("{} exceeds the limit of {}", tensor_count, limits_.max_tensor_count));
    if (kv_count > limits_.max_kv_count)
      fail(16, "header.kv_count",
           fmt::format("{} exceeds the limit of {}", kv_count, limits_.max_kv_count));
    // Both tables must fit in what is left, at their smallest encoding, before any allocation.
    const auto kv_min = checked_mul(kv_count, kMinKvBytes);
    if (!kv_min || *kv_min > r_.remaining())
      fail(16, "header.kv_count",
           fmt::format("{} key-value pairs cannot fit in the {} bytes after the header", kv_count,
                       r_.remaining()));
    const auto ti_min = checked_mul(tensor_count, kMinTensorInfoBytes);
    if (!ti_min || *ti_min > r_.remaining() - *kv_min)
      fail(8, "header.tensor_count",
           fmt::format("{} tensor infos cannot fit in the {} bytes after the header and the {} "
                       "key-value pairs",
                       tensor_count, r_.remaining(), kv_count));

    c.kvs.reserve(kv_count);
    std::unordered_set<std::string> keys;
    for (std::uint64_t i = 0; i < kv_count; ++i) {
      KeyValue kv = read_kv(i);
      if (!keys.insert(kv.key).second)
        fail(kv.offset, kv.key, "duplicate key (it appears earlier in the file)");
      if (kv.key == kAlignmentKey) c.alignment = read_alignment(kv);
      c.kvs.push_back(std::move(kv));
    }

    // Re-check with the exact number of bytes left now that the key-value pairs are read.
    if (tensor_count > r_.remaining() / kMinTensorInfoBytes)
      fail(8, "header.tensor_count",
           fmt::format("{} tensor infos cannot fit in the {} bytes that remain", tensor_count,
                       r_.remaining()));
    c.tensors.reserve(tensor_count);
    std::unordered_set<std::string> names;
    for (std::uint64_t i = 0; i < tensor_count; ++i) {
      TensorInfo t = read_tensor_info(i, c.alignment);
      if (!names.insert(t.name).second)
        fail(t.info_offset, t.name, "duplicate tensor name (it appears earlier in the file)");
      c.tensors.push_back(std::move(t));
    }

    const auto data_offset = checked_align_up(r_.offset(), c.alignment);
    if (!data_offset) fail(r_.offset(), "data_section", "start overflows 64 bits");
    c.data_offset = *data_offset;
    check_extents(c);
    return c;
  }

 private:
  [[noreturn]] void fail(std::uint64_t offset, std::string_view field,
                         const std::string& detail) const {
    throw FormatError(r_.file(), std::string(field), detail, offset);
  }

  // A u64-length-prefixed string. Names (keys, tensor names) must be non-empty and hold no NUL;
  // every string must be valid UTF-8.
  std::string read_string(std::string_view field, bool is_name) {
    const std::uint64_t at = r_.offset();
    const std::uint64_t n = r_.u64(field);
    if (n > limits_.max_string_length)
      fail(at, field, fmt::format("string length {} exceeds the limit of {}", n,
                                  limits_.max_string_length));
    auto b = r_.bytes(n, field);
    std::string s(reinterpret_cast<const char*>(b.data()), b.size());
    if (is_name && s.empty()) fail(at, field, "empty name");
    if (is_name ? !is_valid_name(s) : !is_valid_utf8(s))
      fail(at + 8, field,
           fmt::format("\"{}\" is not valid UTF-8{}", printable(s), is_name ? " or holds NUL" : ""));
    return s;
  }

  ValueType read_type(std::string_view field, bool element) {
    const std::uint64_t at = r_.offset();
    const std::uint32_t t = r_.u32(field);
    if (!is_known_value_type(t))
      fail(at, field, fmt::format("unknown value type id {} (known: 0..12)", t));
    if (element && static_cast<ValueType>(t) == ValueType::array)
      fail(at, field, "arrays of arrays are not supported");
    return static_cast<ValueType>(t);
  }

  // One integer or boolean of type `t`, widened to int64.
  std::int64_t read_int(ValueType t, std::string_view field) {
    const std::uint64_t at = r_.offset();
    switch (t) {
      case ValueType::u8: return r_.read<std::uint8_t>(field);
      case ValueType::i8: return r_.read<std::int8_t>(field);
      case ValueType::u16: return r_.read<std::uint16_t>(field);
      case ValueType::i16: return r_.read<std::int16_t>(field);
      case ValueType::u32: return r_.read<std::uint32_t>(field);
      case ValueType::i32: return r_.read<std::int32_t>(field);
      case ValueType::i64: return r_.read<std::int64_t>(field);
      case ValueType::u64: {
        const std::uint64_t v = r_.u64(field);
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          fail(at, field, fmt::format("u64 array element {} exceeds the supported maximum {}", v,
                                      std::numeric_limits<std::int64_t>::max()));
        return static_cast<std::int64_t>(v);
      }
      case ValueType::boolean: {
        const std::uint8_t v = r_.u8(field);
        if (v > 1) fail(at, field, fmt::format("boolean byte is {}, expected 0 or 1", v));
        return v;
      }
      case ValueType::f32: case ValueType::f64: case ValueType::string: case ValueType::array:
        break;
    }
    throw Error(ErrorCode::internal, "gguf: read_int called for a non-integer type");
  }

  double read_float(ValueType t, std::string_view field) {
    return t == ValueType::f32 ? double{r_.read<float>(field)} : r_.read<double>(field);
  }

  Array read_array(std::string_view field) {
    Array a;
    a.type = read_type(field, /*element=*/true);
    const std::uint64_t at = r_.offset();
    const std::uint64_t n = r_.u64(field);
    if (n > limits_.max_array_length)
      fail(at, field,
           fmt::format("array length {} exceeds the limit of {}", n, limits_.max_array_length));
    if (n > r_.remaining() / min_encoded_size(a.type))
      fail(at, field,
           fmt::format("{} elements of type {} cannot fit in the {} bytes that remain", n,
                       value_type_name(a.type), r_.remaining()));
    if (a.type == ValueType::string) {
      a.strings.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) a.strings.push_back(read_string(field, false));
    } else if (is_float_type(a.type)) {
      a.floats.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) a.floats.push_back(read_float(a.type, field));
    } else {
      a.ints.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i) a.ints.push_back(read_int(a.type, field));
    }
    return a;
  }

  Value read_value(ValueType t, std::string_view field) {
    switch (t) {
      case ValueType::string: return Value::string(read_string(field, false));
      case ValueType::array: return Value::array(read_array(field));
      case ValueType::f32: case ValueType::f64: return {t, read_float(t, field)};
      case ValueType::boolean: return Value::boolean(read_int(t, field) != 0);
      case ValueType::u64: return Value::u64(r_.u64(field));  // full range, unlike array elements
      case ValueType::u8: case ValueType::u16: case ValueType::u32:
        return {t, static_cast<std::uint64_t>(read_int(t, field))};
      case ValueType::i8: case ValueType::i16: case ValueType::i32: case ValueType::i64:
        return {t, read_int(t, field)};
    }
    throw Error(ErrorCode::internal, "gguf: read_value called for an unknown type");
  }

  KeyValue read_kv(std::uint64_t index) {
    KeyValue kv;
    kv.offset = r_.offset();
    kv.key = read_string(fmt::format("kv[{}].key", index), /*is_name=*/true);
    const ValueType t = read_type(kv.key, /*element=*/false);
    kv.value_offset = r_.offset();
    kv.value = read_value(t, kv.key);
    return kv;
  }

  std::uint64_t read_alignment(const KeyValue& kv) const {
    if (kv.value.type != ValueType::u32)
      fail(kv.value_offset, kv.key,
           fmt::format("has type {}, expected u32", value_type_name(kv.value.type)));
    const std::uint64_t a = std::get<std::uint64_t>(kv.value.v);
    if (!is_power_of_two(a))
      fail(kv.value_offset, kv.key, fmt::format("{} is not a power of two", a));
    return a;
  }

  TensorInfo read_tensor_info(std::uint64_t index, std::uint64_t alignment) {
    TensorInfo t;
    t.info_offset = r_.offset();
    t.name = read_string(fmt::format("tensor_info[{}].name", index), /*is_name=*/true);

    const std::uint64_t dims_at = r_.offset();
    const std::uint32_t n_dims = r_.u32(t.name);
    if (n_dims == 0 || n_dims > limits_.max_dims)
      fail(dims_at, t.name, fmt::format("n_dims is {}, expected 1..{}", n_dims, limits_.max_dims));
    t.dims.reserve(n_dims);
    for (std::uint32_t i = 0; i < n_dims; ++i) {
      const std::uint64_t at = r_.offset();
      const std::uint64_t d = r_.u64(t.name);
      if (d == 0) fail(at, t.name, fmt::format("dimension {} is 0", i));
      t.dims.push_back(d);
    }

    const std::uint64_t type_at = r_.offset();
    const std::uint32_t type = r_.u32(t.name);
    if (!is_known_tensor_type(type))
      fail(type_at, t.name,
           fmt::format("unsupported tensor type id {} (mobilellm reads F32=0, F16=1, I8=24, "
                       "BF16=30)",
                       type));
    t.type = static_cast<TensorType>(type);
    const auto nbytes = tensor_nbytes(t.type, t.dims);
    if (!nbytes)
      fail(dims_at, t.name, fmt::format("size of {} {} overflows 64 bits", tensor_type_name(t.type),
                                        dims_string(t.dims)));
    t.nbytes = *nbytes;

    const std::uint64_t offset_at = r_.offset();
    t.offset = r_.u64(t.name);
    if (t.offset % alignment != 0)
      fail(offset_at, t.name,
           fmt::format("data offset {} is not a multiple of the alignment {}", t.offset, alignment));
    return t;
  }

  // Every tensor's data lies inside the file, and no two tensors share a byte.
  void check_extents(const Container& c) const {
    for (const auto& t : c.tensors) {
      const auto start = checked_add(c.data_offset, t.offset);
      if (!start || !extent_within(*start, t.nbytes, size_))
        fail(t.info_offset, t.name,
             fmt::format("{} bytes of data at offset {} of the data section (which starts at "
                         "{}) extend past the end of the file ({} bytes)",
                         t.nbytes, t.offset, c.data_offset, size_));
    }
    std::vector<std::size_t> order(c.tensors.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return c.tensors[a].offset < c.tensors[b].offset;
    });
    for (std::size_t i = 1; i < order.size(); ++i) {
      const auto& prev = c.tensors[order[i - 1]];
      const auto& cur = c.tensors[order[i]];
      // prev.offset + prev.nbytes cannot overflow: the extent check above bounded it by the size.
      if (prev.offset + prev.nbytes > cur.offset)
        fail(cur.info_offset, cur.name,
             fmt::format("data at offset {} overlaps tensor \"{}\" (offset {}, {} bytes)",
                         cur.offset, printable(prev.name), prev.offset, prev.nbytes));
    }
  }

  ByteReader r_;
  const Limits& limits_;
  std::uint64_t size_;
};

// ---------------------------------------------------------------------------------- writing

[[noreturn]] void invalid(const std::string& what) { throw InvalidArgument("gguf::Writer: " + what); }

void check_name(const std::string& name, const char* what) {
  if (name.empty() || !is_valid_name(name) || name.size() > Limits{}.max_string_length)
    invalid(fmt::format("{} \"{}\" is empty, too long, not UTF-8 or holds NUL", what,
                        printable(name)));
}

void check_string(const std::string& key, const std::string& s) {
  if (s.size() > Limits{}.max_string_length || !is_valid_utf8(s))
    invalid(fmt::format("{}: string \"{}\" is too long or not valid UTF-8", key, printable(s)));
}

// Checks that `a` holds its elements in the vector its type calls for, each in range.
void check_array(const std::string& key, const Array& a) {
  if (a.type == ValueType::array || !is_known_value_type(static_cast<std::uint32_t>(a.type)))
    invalid(fmt::format("{}: invalid array element type {}", key, static_cast<std::uint32_t>(a.type)));
  const bool strings = a.type == ValueType::string, floats = is_float_type(a.type);
  if ((!strings && !a.strings.empty()) || (!floats && !a.floats.empty()) ||
      ((strings || floats) && !a.ints.empty()))
    invalid(fmt::format("{}: {} array holds elements of another type", key,
                        value_type_name(a.type)));
  if (a.size() > Limits{}.max_array_length)
    invalid(fmt::format("{}: array of {} elements exceeds the limit", key, a.size()));
  for (const auto& s : a.strings) check_string(key, s);
  if (strings || floats) return;
  const IntRange range = int_range(a.type);
  for (const std::int64_t v : a.ints)
    if (v < range.lo || (v > 0 && static_cast<std::uint64_t>(v) > range.hi))
      invalid(fmt::format("{}: element {} is out of range for {}", key, v,
                          value_type_name(a.type)));
}

void check_value(const std::string& key, const Value& value) {
  const ValueType t = value.type;
  bool ok = false;
  if (is_unsigned_type(t)) {
    ok = std::holds_alternative<std::uint64_t>(value.v) &&
         std::get<std::uint64_t>(value.v) <= int_range(t).hi;
  } else if (is_integer_type(t)) {
    const IntRange r = int_range(t);
    ok = std::holds_alternative<std::int64_t>(value.v) && std::get<std::int64_t>(value.v) >= r.lo &&
         std::get<std::int64_t>(value.v) <= static_cast<std::int64_t>(r.hi);
  } else if (is_float_type(t)) {
    ok = std::holds_alternative<double>(value.v);
  } else if (t == ValueType::boolean) {
    ok = std::holds_alternative<bool>(value.v);
  } else if (t == ValueType::string) {
    ok = std::holds_alternative<std::string>(value.v);
    if (ok) check_string(key, std::get<std::string>(value.v));
  } else if (t == ValueType::array) {
    ok = std::holds_alternative<Array>(value.v);
    if (ok) check_array(key, std::get<Array>(value.v));
  }
  if (!ok)
    invalid(fmt::format("{}: value does not match its type {} ({}) or is out of its range", key,
                        value_type_name(t), static_cast<std::uint32_t>(t)));
}

// Little-endian serialization into a growing byte vector.
class Out {
 public:
  explicit Out(std::vector<std::uint8_t>& bytes) : b_(bytes) {}
  std::uint64_t size() const { return b_.size(); }
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    b_.insert(b_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    b_.insert(b_.end(), s.begin(), s.end());
  }
  void put_int(ValueType t, std::int64_t v) {
    switch (t) {
      case ValueType::u8: case ValueType::boolean: put(static_cast<std::uint8_t>(v)); break;
      case ValueType::i8: put(static_cast<std::int8_t>(v)); break;
      case ValueType::u16: put(static_cast<std::uint16_t>(v)); break;
      case ValueType::i16: put(static_cast<std::int16_t>(v)); break;
      case ValueType::u32: put(static_cast<std::uint32_t>(v)); break;
      case ValueType::i32: put(static_cast<std::int32_t>(v)); break;
      default: put(v); break;  // u64, i64: same 8 bytes
    }
  }
  void put_float(ValueType t, double v) {
    if (t == ValueType::f32) put(static_cast<float>(v));
    else put(v);
  }
  void put_value(const Value& value) {
    const ValueType t = value.type;
    if (t == ValueType::string) return put_string(std::get<std::string>(value.v));
    if (t == ValueType::boolean) return put_int(t, std::get<bool>(value.v) ? 1 : 0);
    if (is_float_type(t)) return put_float(t, std::get<double>(value.v));
    if (is_unsigned_type(t))
      return put_int(t, static_cast<std::int64_t>(std::get<std::uint64_t>(value.v)));
    if (is_integer_type(t)) return put_int(t, std::get<std::int64_t>(value.v));
    const Array& a = std::get<Array>(value.v);
    put(static_cast<std::uint32_t>(a.type));
    put<std::uint64_t>(a.size());
    for (const auto& s : a.strings) put_string(s);
    for (const double f : a.floats) put_float(a.type, f);
    for (const std::int64_t i : a.ints) put_int(a.type, i);
  }

 private:
  std::vector<std::uint8_t>& b_;
};

}  // namespace

const char* value_type_name(ValueType t) noexcept {
  switch (t) {
    case ValueType::u8: return "u8";
    case ValueType::i8: return "i8";
    case ValueType::u16: return "u16";
    case ValueType::i16: return "i16";
    case ValueType::u32: return "u32";
    case ValueType::i32: return "i32";
    case ValueType::f32: return "f32";
    case ValueType::boolean: return "bool";
    case ValueType::string: return "string";
    case ValueType::array: return "array";
    case ValueType::u64: return "u64";
    case ValueType::i64: return "i64";
    case ValueType::f64: return "f64";
  }
  return "unknown";
}

std::size_t Array::size() const {
  if (type == ValueType::string) return strings.size();
  if (is_float_type(type)) return floats.size();
  return ints.size();
}

Value Value::string_array(std::vector<std::string> x) {
  Array a;
  a.type = ValueType::string;
  a.strings = std::move(x);
  return array(std::move(a));
}

Value Value::f32_array(const std::vector<float>& x) {
  Array a;
  a.type = ValueType::f32;
  a.floats.assign(x.begin(), x.end());
  return array(std::move(a));
}

Value Value::i32_array(const std::vector<std::int32_t>& x) {
  Array a;
  a.type = ValueType::i32;
  a.ints.assign(x.begin(), x.end());
  return array(std::move(a));
}

const KeyValue* Container::find(const std::string& key) const {
  for (const auto& kv : kvs)
    if (kv.key == key) return &kv;
  return nullptr;
}

const TensorInfo* Container::find_tensor(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Container parse(std::span<const std::uint8_t> bytes, const std::string& file,
                const Limits& limits) {
  if (bytes.size() < kHeaderBytes)
    throw FormatError(file, "header",
                      fmt::format("file is {} bytes, shorter than the {}-byte GGUF header",
                                  bytes.size(), kHeaderBytes),
                      0);
  return Parser(bytes, file, limits).run();
}

void Writer::set_alignment(std::uint64_t a) {
  if (!is_power_of_two(a) || a > std::numeric_limits<std::uint32_t>::max())
    invalid(fmt::format("alignment {} is not a power of two that fits in u32", a));
  alignment_ = a;
}

void Writer::add(const std::string& key, Value value) {
  check_name(key, "key");
  for (const auto& kv : kvs_)
    if (kv.first == key) invalid(fmt::format("duplicate key \"{}\"", printable(key)));
  check_value(key, value);
  if (kvs_.size() >= Limits{}.max_kv_count) invalid("too many key-value pairs");
  kvs_.emplace_back(key, std::move(value));
}

void Writer::add_tensor(const std::string& name, TensorType type, std::vector<std::uint64_t> dims,
                        Fill fill) {
  check_name(name, "tensor name");
  for (const auto& t : tensors_)
    if (t.name == name) invalid(fmt::format("duplicate tensor \"{}\"", printable(name)));
  if (tensor_type_size(type) == 0)
    invalid(fmt::format("{}: unsupported tensor type id {}", name, static_cast<std::uint32_t>(type)));
  if (dims.empty() || dims.size() > Limits{}.max_dims ||
      std::find(dims.begin(), dims.end(), 0) != dims.end())
    invalid(fmt::format("{}: dims {} must be 1..{} positive values", name, dims_string(dims),
                        Limits{}.max_dims));
  const auto nbytes = tensor_nbytes(type, dims);
  if (!nbytes || *nbytes > std::numeric_limits<std::size_t>::max())
    invalid(fmt::format("{}: size of {} overflows", name, dims_string(dims)));
  if (!fill) invalid(fmt::format("{}: no fill callback", name));
  if (tensors_.size() >= Limits{}.max_tensor_count) invalid("too many tensors");
  tensors_.push_back({name, type, std::move(dims), *nbytes, std::move(fill)});
}

Layout Writer::serialize_header(std::vector<std::uint8_t>& bytes) const {
  // The declared alignment (or its absence, meaning the default) must be the one used.
  std::uint64_t declared = kDefaultAlignment;
  for (const auto& [key, value] : kvs_) {
    if (key != kAlignmentKey) continue;
    if (value.type != ValueType::u32)
      invalid(fmt::format("{} must be u32, not {}", key, value_type_name(value.type)));
    declared = std::get<std::uint64_t>(value.v);
  }
  if (declared != alignment_)
    invalid(fmt::format("{} says {} but the writer aligns to {}", kAlignmentKey, declared,
                        alignment_));

  Layout layout;
  bytes.clear();
  Out out(bytes);
  out.put(kMagic);
  out.put(kVersion);
  out.put<std::uint64_t>(tensors_.size());
  out.put<std::uint64_t>(kvs_.size());
  for (const auto& [key, value] : kvs_) {
    layout.kvs.push_back({key, out.size()});
    out.put_string(key);
    out.put(static_cast<std::uint32_t>(value.type));
    out.put_value(value);
  }
  // Each tensor's data goes at the next aligned offset, in the order added. Its Layout entry holds
  // the offset relative to the data section until the section's start is known, below.
  std::uint64_t rel = 0;
  for (const auto& t : tensors_) {
    Layout::Tensor lt{t.name, static_cast<std::uint32_t>(t.dims.size()), out.size(), rel,
                      t.nbytes};
    out.put_string(t.name);
    out.put(static_cast<std::uint32_t>(t.dims.size()));
    for (auto d : t.dims) out.put(d);
    out.put(static_cast<std::uint32_t>(t.type));
    out.put(rel);
    layout.tensors.push_back(std::move(lt));
    const auto end = checked_add(rel, t.nbytes);
    const auto next = end ? checked_align_up(*end, alignment_) : std::nullopt;
    if (!next) invalid("total tensor size overflows 64 bits");
    rel = *next;
  }
  const auto data_offset = checked_align_up(out.size(), alignment_);
  if (!data_offset) invalid("data section start overflows 64 bits");
  layout.data_offset = *data_offset;
  layout.file_size = layout.data_offset;
  for (auto& t : layout.tensors) {
    const auto abs = checked_add(t.data_offset, layout.data_offset);
    const auto end = abs ? checked_add(*abs, t.nbytes) : std::nullopt;
    if (!end) invalid("file size overflows 64 bits");
    t.data_offset = *abs;
    layout.file_size = *end;
  }
  return layout;
}

Layout Writer::write(
    const std::string& path,
    const std::function<void(std::size_t, std::size_t, const std::string&)>& progress) const {
  std::vector<std::uint8_t> header;
  Layout layout = serialize_header(header);
  AtomicFileWriter f(path);
  f.write(header.data(), header.size());
  std::vector<std::byte> buffer;  // reused: at most the largest tensor is ever held
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    if (progress) progress(i, tensors_.size(), t.name);
    f.write_zeros(layout.tensors[i].data_offset - f.bytes_written());
    buffer.resize(t.nbytes);
    t.fill(std::span<std::byte>(buffer.data(), buffer.size()));
    f.write(buffer.data(), buffer.size());
  }
  f.write_zeros(layout.file_size - f.bytes_written());  // only when there are no tensors
  f.commit();
  return layout;
}

Layout Writer::write_to(std::vector<std::uint8_t>& out) const {
  Layout layout = serialize_header(out);
  out.resize(layout.file_size);  // zero padding included
  for (std::size_t i = 0; i < tensors_.size(); ++i)
    tensors_[i].fill(std::span<std::byte>(
        reinterpret_cast<std::byte*>(out.data() + layout.tensors[i].data_offset),
        tensors_[i].nbytes));
  return layout;
}

}  // namespace mobilellm::gguf
