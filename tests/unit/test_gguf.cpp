// GGUF container: writer -> parser round trips, the writer's own checks, and the parser's
// rejection of malformed containers (each made by patching one field of a valid file).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/file.hpp"
#include "format/gguf.hpp"
#include "mobilellm/error.hpp"
#include "model_builder.hpp"

namespace mobilellm {
namespace {

using gguf::Array;
using gguf::Value;
using gguf::ValueType;
using test::patch_bytes;
using test::patch_u32;
using test::patch_u64;

Value int_array(ValueType type, std::vector<std::int64_t> ints) {
  Array a;
  a.type = type;
  a.ints = std::move(ints);
  return Value::array(std::move(a));
}

Value float_array(ValueType type, std::vector<double> floats) {
  Array a;
  a.type = type;
  a.floats = std::move(floats);
  return Value::array(std::move(a));
}

// Fills a tensor with bytes that depend on the tensor's `seed` and the position.
gguf::Writer::Fill pattern(std::uint8_t seed) {
  return [seed](std::span<std::byte> out) {
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<std::byte>(seed + 31 * i + (i >> 8));
  };
}

std::vector<std::byte> pattern_bytes(std::uint8_t seed, std::size_t n) {
  std::vector<std::byte> v(n);
  pattern(seed)(v);
  return v;
}

std::optional<FormatError> parse_error(std::span<const std::uint8_t> bytes,
                                       const gguf::Limits& limits = {}) {
  try {
    gguf::parse(bytes, "sample.gguf", limits);
  } catch (const FormatError& e) {
    return e;
  }
  return std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A small container every rejection test corrupts in one place. Keys "count" and "words" have
// the same length, as do the tensors "alpha.w" and "gamma.w", so a name can be overwritten with
// the other in place.
struct Sample {
  std::vector<std::uint8_t> bytes;
  gguf::Layout layout;

  const gguf::Layout::Kv& kv(const std::string& key) const {
    for (const auto& k : layout.kvs)
      if (k.key == key) return k;
    throw std::logic_error("no key " + key);
  }
};

Sample make_sample() {
  gguf::Writer w;
  w.add_u32("general.alignment", 64);
  w.add_u32("count", 7);
  w.add_string_array("words", {"alpha", "beta"});
  w.add("flags", int_array(ValueType::boolean, {1, 0}));
  w.add("big", int_array(ValueType::u64, {1, 2}));
  w.add_tensor("alpha.w", TensorType::f32, {5, 5}, pattern(1));  // 100 bytes at 0
  w.add_tensor("gamma.w", TensorType::i8, {3, 2}, pattern(2));   // 6 bytes at 128
  Sample s;
  s.layout = w.write_to(s.bytes);
  return s;
}

TEST(GgufRoundTrip, EveryValueType) {
  const std::vector<std::pair<std::string, Value>> values = {
      {"u8", Value::u8(255)},
      {"i8", Value::i8(-128)},
      {"u16", Value::u16(65535)},
      {"i16", Value::i16(-32768)},
      {"u32", Value::u32(std::numeric_limits<std::uint32_t>::max())},
      {"i32", Value::i32(std::numeric_limits<std::int32_t>::min())},
      {"u64", Value::u64(std::numeric_limits<std::uint64_t>::max())},
      {"i64", Value::i64(std::numeric_limits<std::int64_t>::min())},
      {"f32", Value::f32(-1.5e-45f)},  // a subnormal survives exactly
      {"f64", Value::f64(3.141592653589793)},
      {"bool.true", Value::boolean(true)},
      {"bool.false", Value::boolean(false)},
      {"string.empty", Value::string("")},
      {"string.utf8", Value::string("h\xc3\xa9llo \xe2\x96\x81 \xe4\xb8\x96\xe7\x95\x8c")},
      {"string.nul", Value::string(std::string("a\0b", 3))},  // NUL is fine in values
      {"array.u8", int_array(ValueType::u8, {0, 1, 255})},
      {"array.i8", int_array(ValueType::i8, {-128, 0, 127})},
      {"array.u16", int_array(ValueType::u16, {0, 65535})},
      {"array.i16", int_array(ValueType::i16, {-32768, 32767})},
      {"array.u32", int_array(ValueType::u32, {0, 4294967295})},
      {"array.i32", Value::i32_array({std::numeric_limits<std::int32_t>::min(), -1, 7})},
      {"array.u64", int_array(ValueType::u64, {0, std::numeric_limits<std::int64_t>::max()})},
      {"array.i64", int_array(ValueType::i64, {std::numeric_limits<std::int64_t>::min(), 5})},
      {"array.f32", Value::f32_array({0.5f, -2.25f, 1e30f})},
      {"array.f64", float_array(ValueType::f64, {1e-300, -0.1})},
      {"array.bool", int_array(ValueType::boolean, {1, 0, 1})},
      {"array.string", Value::string_array({"", "\xe2\x96\x81the", "x y"})},
      {"array.empty", int_array(ValueType::u8, {})},
  };
  gguf::Writer w;
  for (const auto& [key, value] : values) w.add(key, value);
  std::vector<std::uint8_t> bytes;
  const gguf::Layout layout = w.write_to(bytes);

  const gguf::Container c = gguf::parse(bytes, "values.gguf");
  EXPECT_EQ(c.version, 3u);
  EXPECT_EQ(c.alignment, 64u);
  EXPECT_TRUE(c.tensors.empty());
  ASSERT_EQ(c.kvs.size(), values.size());
  ASSERT_EQ(layout.kvs.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE(values[i].first);
    EXPECT_EQ(c.kvs[i].key, values[i].first);
    EXPECT_EQ(c.kvs[i].value, values[i].second);
    EXPECT_EQ(c.kvs[i].offset, layout.kvs[i].offset);
    EXPECT_EQ(c.kvs[i].value_offset, layout.kvs[i].value_offset());
    EXPECT_EQ(bytes[layout.kvs[i].type_offset()], static_cast<std::uint8_t>(values[i].second.type));
  }
  EXPECT_EQ(c.data_offset, layout.data_offset);
  EXPECT_EQ(c.data_offset % 64, 0u);
  EXPECT_EQ(bytes.size(), layout.file_size);
}

TEST(GgufRoundTrip, EveryTensorTypeAndRank) {
  struct Case {
    std::string name;
    TensorType type;
    std::vector<std::uint64_t> dims;
    std::size_t element_size;
  };
  const std::vector<Case> cases = {
      {"f32.1d", TensorType::f32, {7}, 4},
      {"f16.2d", TensorType::f16, {3, 5}, 2},
      {"i8.3d", TensorType::i8, {2, 3, 11}, 1},
      {"bf16.4d", TensorType::bf16, {2, 1, 3, 4}, 2},
      {"f32.big", TensorType::f32, {300}, 4},
  };
  for (std::uint32_t alignment : {32u, 64u, 256u}) {
    SCOPED_TRACE(alignment);
    gguf::Writer w;
    w.set_alignment(alignment);
    w.add_u32("general.alignment", alignment);
    for (std::size_t i = 0; i < cases.size(); ++i)
      w.add_tensor(cases[i].name, cases[i].type, cases[i].dims,
                   pattern(static_cast<std::uint8_t>(i)));
    std::vector<std::uint8_t> bytes;
    const gguf::Layout layout = w.write_to(bytes);

    const gguf::Container c = gguf::parse(bytes, "tensors.gguf");
    EXPECT_EQ(c.alignment, alignment);
    EXPECT_EQ(c.data_offset, layout.data_offset);
    ASSERT_EQ(c.tensors.size(), cases.size());
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const auto& t = c.tensors[i];
      SCOPED_TRACE(t.name);
      std::uint64_t n = cases[i].element_size;
      for (auto d : cases[i].dims) n *= d;
      EXPECT_EQ(t.name, cases[i].name);
      EXPECT_EQ(t.type, cases[i].type);
      EXPECT_EQ(t.dims, cases[i].dims);
      EXPECT_EQ(t.nbytes, n);
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_EQ(t.info_offset, layout.tensors[i].info_offset);
      EXPECT_EQ(c.data_offset + t.offset, layout.tensors[i].data_offset);
      const auto expected = pattern_bytes(static_cast<std::uint8_t>(i), n);
      ASSERT_LE(c.data_offset + t.offset + n, bytes.size());
      EXPECT_EQ(0, std::memcmp(bytes.data() + c.data_offset + t.offset, expected.data(), n));
    }
  }
}

TEST(GgufWriter, FileMatchesMemoryAndReportsProgress) {
  const std::string path = test::tmp_path("gguf_writer_file.gguf");
  gguf::Writer w;
  w.add_string("general.name", "progress");
  w.add_tensor("a", TensorType::f32, {10}, pattern(3));
  w.add_tensor("b", TensorType::i8, {70}, pattern(4));
  w.add_tensor("c", TensorType::bf16, {1}, pattern(5));

  std::vector<std::string> seen;
  const gguf::Layout layout = w.write(path, [&](std::size_t i, std::size_t n, const std::string& name) {
    EXPECT_EQ(i, seen.size());
    EXPECT_EQ(n, 3u);
    seen.push_back(name);
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));

  std::vector<std::uint8_t> memory;
  const gguf::Layout memory_layout = w.write_to(memory);
  EXPECT_EQ(memory_layout.file_size, layout.file_size);
  auto mapped = MappedFile::open(path);
  ASSERT_EQ(mapped->size(), memory.size());
  EXPECT_EQ(0, std::memcmp(mapped->data(), memory.data(), memory.size()));

  // Nothing but the file itself is left in the folder (no temp files).
  for (const auto& entry : std::filesystem::directory_iterator(MOBILELLM_TEST_TMPDIR))
    EXPECT_FALSE(contains(entry.path().filename().string(), "gguf_writer_file.gguf.tmp"));
}

TEST(GgufWriter, EmptyContainerIsPaddedToTheDataSection) {
  gguf::Writer w;
  w.add_u32("x", 1);
  std::vector<std::uint8_t> bytes;
  const gguf::Layout layout = w.write_to(bytes);
  EXPECT_EQ(bytes.size(), 64u);  // 24-byte header + 1 + 8 + 4 + 4 bytes of pair, padded
  EXPECT_EQ(layout.data_offset, 64u);
  EXPECT_EQ(gguf::parse(bytes, "empty.gguf").data_offset, 64u);
}

TEST(GgufWriter, RejectsWhatTheReaderWouldReject) {
  auto dummy = pattern(0);
  {
    gguf::Writer w;
    w.add_u32("k", 1);
    EXPECT_THROW(w.add_u32("k", 2), InvalidArgument);
    EXPECT_THROW(w.add_u32("", 2), InvalidArgument);
    EXPECT_THROW(w.add_u32(std::string("a\0b", 3), 2), InvalidArgument);
    EXPECT_THROW(w.add_u32("\xff", 2), InvalidArgument);
    EXPECT_THROW(w.add_string("s", "\xc0\x80"), InvalidArgument);  // overlong NUL
    EXPECT_THROW(w.add("mismatch", Value{ValueType::u32, std::int64_t{1}}), InvalidArgument);
    EXPECT_THROW(w.add("range", Value{ValueType::u8, std::uint64_t{256}}), InvalidArgument);
    EXPECT_THROW(w.add("nested", Value::array(Array{ValueType::array, {}, {}, {}})),
                 InvalidArgument);
    EXPECT_THROW(w.add("mixed", Value::array(Array{ValueType::f32, {1}, {}, {}})), InvalidArgument);
    EXPECT_THROW(w.add("bool", int_array(ValueType::boolean, {2})), InvalidArgument);
    EXPECT_THROW(w.add("i8", int_array(ValueType::i8, {-129})), InvalidArgument);
  }
  {
    gguf::Writer w;
    w.add_tensor("t", TensorType::f32, {1}, dummy);
    EXPECT_THROW(w.add_tensor("t", TensorType::f32, {1}, dummy), InvalidArgument);
    EXPECT_THROW(w.add_tensor("u", TensorType::f32, {}, dummy), InvalidArgument);
    EXPECT_THROW(w.add_tensor("u", TensorType::f32, {2, 0}, dummy), InvalidArgument);
    EXPECT_THROW(w.add_tensor("u", TensorType::f32, {1, 1, 1, 1, 1}, dummy), InvalidArgument);
    EXPECT_THROW(w.add_tensor("u", static_cast<TensorType>(2), {1}, dummy), InvalidArgument);
    EXPECT_THROW(w.add_tensor("u", TensorType::f32, {1ull << 32, 1ull << 32}, dummy),
                 InvalidArgument);
    EXPECT_THROW(w.add_tensor("u", TensorType::f32, {1}, nullptr), InvalidArgument);
  }
  {
    gguf::Writer w;
    EXPECT_THROW(w.set_alignment(48), InvalidArgument);
    EXPECT_THROW(w.set_alignment(0), InvalidArgument);
    w.add_u32("general.alignment", 128);  // disagrees with the writer's 64
    std::vector<std::uint8_t> out;
    EXPECT_THROW(w.write_to(out), InvalidArgument);
    w.set_alignment(128);
    EXPECT_NO_THROW(w.write_to(out));
  }
  {
    gguf::Writer w;
    w.set_alignment(128);  // but no general.alignment key: readers would assume 64
    std::vector<std::uint8_t> out;
    EXPECT_THROW(w.write_to(out), InvalidArgument);
  }
}

TEST(GgufParse, SampleIsValid) {
  const Sample s = make_sample();
  const gguf::Container c = gguf::parse(s.bytes, "sample.gguf");
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[1].offset, 128u);
  ASSERT_NE(c.find("big"), nullptr);
  EXPECT_EQ(c.find("big")->value, int_array(ValueType::u64, {1, 2}));
  EXPECT_EQ(c.find("absent"), nullptr);
  ASSERT_NE(c.find_tensor("gamma.w"), nullptr);
  EXPECT_EQ(c.find_tensor("gamma.w")->dims, (std::vector<std::uint64_t>{3, 2}));
  EXPECT_EQ(c.find_tensor("beta.w"), nullptr);
}

TEST(GgufParse, RejectsBadMagic) {
  Sample s = make_sample();
  patch_u32(s.bytes, 0, 0x46554746);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->file(), "sample.gguf");
  EXPECT_EQ(e->field(), "header.magic");
  EXPECT_EQ(e->offset(), 0u);
  EXPECT_TRUE(contains(e->detail(), "0x46554746")) << e->what();
}

TEST(GgufParse, RejectsVersion2) {
  Sample s = make_sample();
  patch_u32(s.bytes, 4, 2);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "header.version");
  EXPECT_EQ(e->offset(), 4u);
  EXPECT_TRUE(contains(e->detail(), "version 2")) << e->what();
}

TEST(GgufParse, RejectsEveryTruncation) {
  const Sample s = make_sample();
  for (std::size_t n = 0; n < s.bytes.size(); ++n) {
    auto e = parse_error(std::span(s.bytes.data(), n));
    ASSERT_TRUE(e) << "a prefix of " << n << " bytes was accepted";
    ASSERT_TRUE(e->offset());
    EXPECT_LE(*e->offset(), s.bytes.size());
  }
}

TEST(GgufParse, RejectsHugeCountsBeforeAllocating) {
  Sample s = make_sample();
  patch_u64(s.bytes, 16, 1ull << 60);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "header.kv_count");
  EXPECT_TRUE(contains(e->detail(), "1152921504606846976 exceeds the limit")) << e->what();

  // Without the limit, the bytes that remain still bound the count.
  gguf::Limits unlimited;
  unlimited.max_kv_count = unlimited.max_tensor_count = std::numeric_limits<std::uint64_t>::max();
  e = parse_error(s.bytes, unlimited);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "header.kv_count");
  EXPECT_TRUE(contains(e->detail(), "cannot fit")) << e->what();

  Sample t = make_sample();
  patch_u64(t.bytes, 8, std::numeric_limits<std::uint64_t>::max());
  e = parse_error(t.bytes, unlimited);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "header.tensor_count");
  EXPECT_EQ(e->offset(), 8u);
  EXPECT_TRUE(contains(e->detail(), "18446744073709551615 tensor infos cannot fit")) << e->what();
}

TEST(GgufParse, RejectsHugeStringLength) {
  Sample s = make_sample();
  const auto& kv = s.kv("count");
  patch_u64(s.bytes, kv.offset, 1ull << 40);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "kv[1].key");
  EXPECT_EQ(e->offset(), kv.offset);
  EXPECT_TRUE(contains(e->detail(), "1099511627776")) << e->what();
}

TEST(GgufParse, RejectsUnknownValueType) {
  Sample s = make_sample();
  const auto& kv = s.kv("count");
  patch_u32(s.bytes, kv.type_offset(), 13);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "count");
  EXPECT_EQ(e->offset(), kv.type_offset());
  EXPECT_TRUE(contains(e->detail(), "unknown value type id 13")) << e->what();
}

TEST(GgufParse, RejectsNestedArray) {
  Sample s = make_sample();
  const auto& kv = s.kv("words");
  patch_u32(s.bytes, kv.value_offset(), static_cast<std::uint32_t>(ValueType::array));
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "words");
  EXPECT_EQ(e->offset(), kv.value_offset());
  EXPECT_TRUE(contains(e->detail(), "arrays of arrays")) << e->what();
}

TEST(GgufParse, RejectsHugeArrayLength) {
  Sample s = make_sample();
  const auto& kv = s.kv("words");
  patch_u64(s.bytes, kv.value_offset() + 4, 1ull << 40);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "words");
  EXPECT_EQ(e->offset(), kv.value_offset() + 4);
  EXPECT_TRUE(contains(e->detail(), "array length 1099511627776 exceeds")) << e->what();

  gguf::Limits unlimited;
  unlimited.max_array_length = std::numeric_limits<std::uint64_t>::max();
  e = parse_error(s.bytes, unlimited);
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->detail(), "1099511627776 elements of type string cannot fit"))
      << e->what();
}

TEST(GgufParse, RejectsBadBooleanAndOversizedU64Element) {
  Sample s = make_sample();
  const auto& flags = s.kv("flags");
  s.bytes[flags.value_offset() + 12] = 2;  // element type u32, count u64, then the first byte
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "flags");
  EXPECT_EQ(e->offset(), flags.value_offset() + 12);
  EXPECT_TRUE(contains(e->detail(), "boolean byte is 2")) << e->what();

  Sample t = make_sample();
  const auto& big = t.kv("big");
  patch_u64(t.bytes, big.value_offset() + 12, 1ull << 63);
  e = parse_error(t.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "big");
  EXPECT_TRUE(contains(e->detail(), "9223372036854775808")) << e->what();
}

TEST(GgufParse, RejectsInvalidNames) {
  Sample s = make_sample();
  const auto& kv = s.kv("count");
  s.bytes[kv.offset + 8 + 2] = 0xff;
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "kv[1].key");
  EXPECT_TRUE(contains(e->detail(), "\\xff")) << e->what();

  Sample t = make_sample();
  t.bytes[t.layout.tensors[0].info_offset + 8 + 3] = 0;  // "alp\0a.w"
  e = parse_error(t.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "tensor_info[0].name");
  EXPECT_EQ(e->offset(), t.layout.tensors[0].info_offset + 8);
  EXPECT_TRUE(contains(e->detail(), "NUL")) << e->what();
}

TEST(GgufParse, RejectsDuplicateKey) {
  Sample s = make_sample();
  const auto& words = s.kv("words");
  patch_bytes(s.bytes, words.offset + 8, "count");
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "count");
  EXPECT_EQ(e->offset(), words.offset);
  EXPECT_TRUE(contains(e->detail(), "duplicate key")) << e->what();
}

TEST(GgufParse, RejectsDuplicateTensor) {
  Sample s = make_sample();
  const auto& gamma = s.layout.tensors[1];
  patch_bytes(s.bytes, gamma.info_offset + 8, "alpha.w");
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "alpha.w");
  EXPECT_EQ(e->offset(), gamma.info_offset);
  EXPECT_TRUE(contains(e->detail(), "duplicate tensor")) << e->what();
}

TEST(GgufParse, RejectsOverlappingTensors) {
  Sample s = make_sample();
  const auto& gamma = s.layout.tensors[1];
  patch_u64(s.bytes, gamma.offset_offset(), 64);  // alpha.w covers [0, 100)
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "gamma.w");
  EXPECT_EQ(e->offset(), gamma.info_offset);
  EXPECT_TRUE(contains(e->detail(), "overlaps tensor \"alpha.w\" (offset 0, 100 bytes)"))
      << e->what();
}

TEST(GgufParse, RejectsMisalignedOffset) {
  Sample s = make_sample();
  const auto& gamma = s.layout.tensors[1];
  patch_u64(s.bytes, gamma.offset_offset(), 136);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "gamma.w");
  EXPECT_EQ(e->offset(), gamma.offset_offset());
  EXPECT_TRUE(contains(e->detail(), "136 is not a multiple of the alignment 64")) << e->what();
}

TEST(GgufParse, RejectsDataPastTheEnd) {
  Sample s = make_sample();
  const auto& gamma = s.layout.tensors[1];
  patch_u64(s.bytes, gamma.offset_offset(), 192);
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "gamma.w");
  EXPECT_TRUE(contains(e->detail(), "extend past the end")) << e->what();

  // An offset so large that adding the data section's start overflows.
  patch_u64(s.bytes, gamma.offset_offset(), std::numeric_limits<std::uint64_t>::max() - 63);
  e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->detail(), "extend past the end")) << e->what();
}

TEST(GgufParse, RejectsUnknownTensorType) {
  Sample s = make_sample();
  const auto& alpha = s.layout.tensors[0];
  patch_u32(s.bytes, alpha.type_offset(), 2);  // Q4_0 in ggml: not a mobilellm type
  auto e = parse_error(s.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "alpha.w");
  EXPECT_EQ(e->offset(), alpha.type_offset());
  EXPECT_TRUE(contains(e->detail(), "unsupported tensor type id 2")) << e->what();
}

TEST(GgufParse, RejectsBadDims) {
  const Sample s = make_sample();
  const auto& alpha = s.layout.tensors[0];
  for (std::uint32_t n_dims : {0u, 5u}) {
    Sample t = s;
    patch_u32(t.bytes, alpha.n_dims_offset(), n_dims);
    auto e = parse_error(t.bytes);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->field(), "alpha.w");
    EXPECT_EQ(e->offset(), alpha.n_dims_offset());
    EXPECT_TRUE(contains(e->detail(), "n_dims is " + std::to_string(n_dims))) << e->what();
  }
  Sample zero = s;
  patch_u64(zero.bytes, alpha.dims_offset() + 8, 0);
  auto e = parse_error(zero.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset(), alpha.dims_offset() + 8);
  EXPECT_TRUE(contains(e->detail(), "dimension 1 is 0")) << e->what();

  Sample overflow = s;  // 2^32 x 2^32 elements: the count overflows 64 bits
  patch_u64(overflow.bytes, alpha.dims_offset(), 1ull << 32);
  patch_u64(overflow.bytes, alpha.dims_offset() + 8, 1ull << 32);
  e = parse_error(overflow.bytes);
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->detail(), "{4294967296, 4294967296} overflows")) << e->what();
}

TEST(GgufParse, RejectsBadAlignment) {
  const Sample s = make_sample();
  const auto& kv = s.kv("general.alignment");
  Sample odd = s;
  patch_u32(odd.bytes, kv.value_offset(), 48);
  auto e = parse_error(odd.bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "general.alignment");
  EXPECT_EQ(e->offset(), kv.value_offset());
  EXPECT_TRUE(contains(e->detail(), "48 is not a power of two")) << e->what();

  Sample zero = s;
  patch_u32(zero.bytes, kv.value_offset(), 0);
  e = parse_error(zero.bytes);
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->detail(), "0 is not a power of two")) << e->what();

  Sample typed = s;
  patch_u32(typed.bytes, kv.type_offset(), static_cast<std::uint32_t>(ValueType::i32));
  e = parse_error(typed.bytes);
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->detail(), "has type i32, expected u32")) << e->what();
}

TEST(GgufParse, RejectsShortFiles) {
  const std::vector<std::uint8_t> empty;
  auto e = parse_error(empty);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "header");
  EXPECT_TRUE(contains(e->detail(), "0 bytes")) << e->what();
}

}  // namespace
}  // namespace mobilellm
