// safetensors reader: valid files (single and sharded) read back exactly; malformed headers,
// lying offsets, unsupported dtypes and inconsistent shard indexes rejected by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint_bytes.hpp"
#include "convert/safetensors.hpp"

namespace mobilellm {
namespace {

using namespace checkpoint_bytes;
using nlohmann::ordered_json;

std::vector<SafetensorsTensor> sample_tensors() {
  return {{"model.embed_tokens.weight", "F16", {4, 3}, pattern(24, 1)},
          {"model.norm.weight", "F32", {3}, pattern(12, 2)},
          {"empty", "F32", {0, 5}, {}},
          {"scalar", "BF16", {}, pattern(2, 3)},
          {"lm_head.weight", "BF16", {2, 2}, pattern(8, 4)}};
}

std::vector<SourceTensor> read_bytes(const Bytes& bytes) {
  return read_safetensors(map_bytes(bytes, "model.safetensors"));
}

// A file whose header is `header` (serialized as is) over a data area of `data_size` bytes.
Bytes with_header(const ordered_json& header, std::size_t data_size) {
  return assemble_safetensors(header.dump(), pattern(data_size, 7));
}

TEST(Safetensors, ReadsNamesDtypesShapesAndExactBytes) {
  const auto tensors = sample_tensors();
  const SafetensorsFile f = build_safetensors(tensors, {{"format", "pt"}});
  const auto file = map_bytes(f.bytes, "model.safetensors");
  const auto got = read_safetensors(file);
  ASSERT_EQ(got.size(), tensors.size());
  const SourceDType dtypes[] = {SourceDType::f16, SourceDType::f32, SourceDType::f32,
                                SourceDType::bf16, SourceDType::bf16};
  for (std::size_t i = 0; i < tensors.size(); ++i) {  // data order is the order written
    EXPECT_EQ(got[i].name, tensors[i].name);
    EXPECT_EQ(got[i].dtype, dtypes[i]) << got[i].name;
    EXPECT_EQ(got[i].shape, tensors[i].shape) << got[i].name;
    EXPECT_EQ(copy_of(got[i].bytes), tensors[i].data) << got[i].name;
    EXPECT_EQ(got[i].bytes.data(), file->data() + f.tensor_offsets[i]) << got[i].name;
    EXPECT_EQ(got[i].file, file);
  }
}

TEST(Safetensors, ReturnsTensorsInDataOrderWhateverTheHeaderOrder) {
  // JSON objects are unordered: name the tensors so that name order and data order differ.
  const SafetensorsFile f =
      build_safetensors({{"b", "F32", {1}, pattern(4, 1)}, {"a", "F32", {2}, pattern(8, 2)}});
  const auto got = read_bytes(f.bytes);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].name, "b");
  EXPECT_EQ(got[1].name, "a");
}

TEST(Safetensors, ReadsAnEmptyFile) {
  EXPECT_TRUE(read_bytes(build_safetensors({}).bytes).empty());
}

TEST(Safetensors, ReadsTheSharedTinyStoriesCheckpoint) {
  const std::string path =
      std::string(MOBILELLM_SHARED_DIR) + "/models/tinystories-656k/model.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  const auto file = MappedFile::open(path);
  const auto tensors = read_safetensors(file);
  // The README: hidden 128, vocab 2048, float32, lm_head.weight only (tied embeddings).
  std::uint64_t total = 0;
  const SourceTensor* head = nullptr;
  for (const auto& t : tensors) {
    EXPECT_EQ(t.dtype, SourceDType::f32) << t.name;
    total += t.bytes.size();
    if (t.name == "lm_head.weight") head = &t;
  }
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->shape, (std::vector<std::uint64_t>{2048, 128}));
  EXPECT_EQ(file->data() + file->size(), tensors.back().bytes.data() + tensors.back().bytes.size());
  EXPECT_LT(total, file->size());
}

TEST(Safetensors, RejectsHeaderLengthsThatDoNotFit) {
  const SafetensorsFile f = build_safetensors(sample_tensors());
  Bytes too_long = f.bytes;
  store_le(too_long, 0, f.bytes.size() - 7, 8);
  EXPECT_TRUE(rejects([&] { read_bytes(too_long); }, {"header length", "only"}));

  Bytes huge = f.bytes;
  store_le(huge, 0, 100'000'001, 8);
  EXPECT_TRUE(rejects([&] { read_bytes(huge); }, {"header length", "100000001", "limit"}));

  EXPECT_TRUE(rejects([&] { read_bytes(Bytes(f.bytes.begin(), f.bytes.begin() + 5)); },
                      {"header length", "truncated"}));
}

TEST(Safetensors, RejectsEveryTruncation) {
  const SafetensorsFile f = build_safetensors(sample_tensors());
  for (std::size_t size = 0; size < f.bytes.size(); ++size) {
    const Bytes cut(f.bytes.begin(), f.bytes.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_TRUE(rejects([&] { read_bytes(cut); }, {"model.safetensors"})) << "cut to " << size;
  }
}

TEST(Safetensors, RejectsHeadersThatAreNotAJsonObject) {
  EXPECT_TRUE(rejects([&] { read_bytes(assemble_safetensors("{\"a\": ", {})); }, {"invalid JSON"}));
  EXPECT_TRUE(
      rejects([&] { read_bytes(assemble_safetensors("[1, 2]", {})); }, {"array, not an object"}));
  EXPECT_TRUE(rejects([&] { read_bytes(assemble_safetensors("{} x", {})); }, {"invalid JSON"}));
  EXPECT_TRUE(
      rejects([&] { read_bytes(assemble_safetensors("{\"\xff\": 1}", {})); }, {"invalid JSON"}));
  // nlohmann reports a number beyond double range as out_of_range, not as a parse error.
  EXPECT_TRUE(
      rejects([&] { read_bytes(assemble_safetensors("{\"w\": {\"shape\": [1e400]}}", {})); },
              {"invalid JSON", "number overflow", "1e400"}));
}

TEST(Safetensors, RejectsDuplicateKeys) {
  const std::string entry = R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  const std::string twice = "{\"w\": " + entry + ", \"w\": " + entry + "}";
  EXPECT_TRUE(rejects([&] { read_bytes(assemble_safetensors(twice, pattern(4, 1))); },
                      {"duplicate key 'w'"}));
  const std::string inner =
      R"({"w": {"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [0, 4]}})";
  EXPECT_TRUE(rejects([&] { read_bytes(assemble_safetensors(inner, pattern(4, 1))); },
                      {"duplicate key 'dtype'"}));
}

TEST(Safetensors, RejectsUnsupportedDtypesByName) {
  for (const char* dtype : {"F64", "I64", "I32", "U8", "BOOL", "F8_E4M3", "f32", ""}) {
    auto tensors = sample_tensors();
    tensors[1].dtype = dtype;
    EXPECT_TRUE(rejects(
        [&] { read_bytes(build_safetensors(tensors).bytes); },
        {"tensor 'model.norm.weight'", "dtype '" + std::string(dtype) + "' is not supported"}));
  }
}

TEST(Safetensors, RejectsMalformedEntries) {
  struct Case {
    const char* entry;
    const char* message;
  };
  const Case cases[] = {
      {R"("not an object")", "is a JSON string"},
      {R"({"dtype": "F32", "shape": [1]})", "has no \"data_offsets\""},
      {R"({"shape": [1], "data_offsets": [0, 4]})", "has no \"dtype\""},
      {R"({"dtype": "F32", "data_offsets": [0, 4]})", "has no \"shape\""},
      {R"({"dtype": 1, "shape": [1], "data_offsets": [0, 4]})", "dtype is a JSON number"},
      {R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 0})", "unexpected key 'x'"},
      {R"({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]})", "not a non-negative integer"},
      {R"({"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]})", "not a non-negative integer"},
      {R"({"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]})", "not a non-negative integer"},
      {R"({"dtype": "F32", "shape": 1, "data_offsets": [0, 4]})", "shape must be an array"},
      {R"({"dtype": "F32", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 4]})", "at most 8"},
      {R"({"dtype": "F32", "shape": [1], "data_offsets": [0]})", "not a pair"},
      {R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]})", "not a pair"},
      {R"({"dtype": "F32", "shape": [1], "data_offsets": [0, -4]})", "not a pair"},
      {R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 0]})", "end before they begin"},
      {R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]})", "span 4 bytes, but 2 F32"},
      {R"({"dtype": "F16", "shape": [1], "data_offsets": [0, 4]})", "need 2"},
      {R"({"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]})",
       "more elements than fit in 64 bits"},
      {R"({"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 4]})",
       "more bytes than fit in 64 bits"},
  };
  for (const Case& c : cases) {
    const std::string header = std::string("{\"w\": ") + c.entry + "}";
    EXPECT_TRUE(rejects([&] { read_bytes(assemble_safetensors(header, pattern(4, 1))); },
                        {"tensor 'w'", c.message}))
        << c.entry;
  }
}

TEST(Safetensors, RejectsBadTensorNames) {
  const std::string entry = R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  for (const std::string name : {"a\\u0000b", ""}) {
    const std::string header = "{\"" + name + "\": " + entry + "}";
    EXPECT_TRUE(rejects([&] { read_bytes(assemble_safetensors(header, pattern(4, 1))); },
                        {"is empty or contains NUL"}));
  }
}

TEST(Safetensors, RejectsOverlappingTensors) {
  auto header = safetensors_header(sample_tensors());
  header["model.norm.weight"]["data_offsets"] = {20, 32};  // starts inside the embedding [0, 24)
  EXPECT_TRUE(
      rejects([&] { read_bytes(with_header(header, 46)); },
              {"tensor 'model.norm.weight'", "overlap tensor 'model.embed_tokens.weight'"}));

  auto same =
      safetensors_header({{"a", "F32", {2}, pattern(8, 1)}, {"b", "F32", {2}, pattern(8, 2)}});
  same["b"]["data_offsets"] = {0, 8};  // both at [0, 8): the second overlaps the first
  EXPECT_TRUE(rejects([&] { read_bytes(with_header(same, 8)); }, {"overlap"}));
}

TEST(Safetensors, RejectsAnEmptyTensorInsideAnother) {
  auto header = safetensors_header(sample_tensors());
  header["empty"]["data_offsets"] = {4, 4};
  EXPECT_TRUE(rejects([&] { read_bytes(with_header(header, 46)); }, {"tensor 'empty'", "overlap"}));
}

TEST(Safetensors, RejectsGapsAndUndescribedBytes) {
  auto header = safetensors_header(sample_tensors());
  header["model.norm.weight"]["data_offsets"] = {26, 38};  // 2 unused bytes after the embedding
  EXPECT_TRUE(rejects([&] { read_bytes(with_header(header, 48)); }, {"leave bytes 24..26"}));

  const SafetensorsFile f = build_safetensors(sample_tensors());
  Bytes trailing = f.bytes;
  append(trailing, "junk");
  EXPECT_TRUE(rejects([&] { read_bytes(trailing); }, {"4 bytes after the last tensor"}));
}

TEST(Safetensors, RejectsOffsetsPastTheDataArea) {
  const SafetensorsFile f = build_safetensors(sample_tensors());
  const Bytes short_data(f.bytes.begin(), f.bytes.end() - 1);
  EXPECT_TRUE(rejects([&] { read_bytes(short_data); },
                      {"tensor 'lm_head.weight'", "run past the 45-byte data area"}));

  // Offsets at the top of the 64-bit range, consistent with the shape: no wrap-around.
  auto header = safetensors_header({{"w", "F32", {1}, pattern(4, 1)}});
  header["w"]["data_offsets"] = {18446744073709551611ull, 18446744073709551615ull};
  EXPECT_TRUE(rejects([&] { read_bytes(with_header(header, 4)); }, {"tensor 'w'", "run past"}));
}

TEST(Safetensors, ChecksMetadata) {
  EXPECT_NO_THROW(read_bytes(build_safetensors(sample_tensors(), {{"a", "b"}, {"c", ""}}).bytes));
  auto bad_value = safetensors_header({});
  bad_value["__metadata__"] = {{"total", 5}};
  EXPECT_TRUE(rejects([&] { read_bytes(with_header(bad_value, 0)); },
                      {"__metadata__", "value of 'total' is a JSON number"}));
  auto not_object = safetensors_header({});
  not_object["__metadata__"] = "pt";
  EXPECT_TRUE(
      rejects([&] { read_bytes(with_header(not_object, 0)); }, {"__metadata__", "not an object"}));
}

TEST(Safetensors, BoundsJsonNesting) {
  const std::string deep =
      "{\"__metadata__\": " + std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_TRUE(
      rejects([&] { read_bytes(assemble_safetensors(deep, {})); }, {"nests deeper than 16"}));
}

// ------------------------------------------------------------------------------ sharded

class ShardedSafetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_directory();
    // Clear leftovers of a previous run: each test writes the files it needs.
    for (const auto& entry : std::filesystem::directory_iterator(dir_))
      std::filesystem::remove(entry);
  }

  void write_shard(const std::string& name, const std::vector<SafetensorsTensor>& tensors) {
    write_file(dir_ + "/" + name, build_safetensors(tensors).bytes);
  }
  void write_index_text(std::string_view text) {
    write_file(dir_ + "/model.safetensors.index.json", to_bytes(text));
  }
  void write_index(const ordered_json& index) { write_index_text(index.dump()); }

  // Two shards, the index mapping each tensor where it is.
  ordered_json write_valid() {
    write_shard("model-00001-of-00002.safetensors",
                {{"a", "F32", {2}, pattern(8, 1)}, {"b", "F16", {3}, pattern(6, 2)}});
    write_shard("model-00002-of-00002.safetensors", {{"c", "BF16", {1, 2}, pattern(4, 3)}});
    ordered_json index = {{"metadata", {{"total_size", 18}}},
                          {"weight_map",
                           {{"a", "model-00001-of-00002.safetensors"},
                            {"b", "model-00001-of-00002.safetensors"},
                            {"c", "model-00002-of-00002.safetensors"}}}};
    write_index(index);
    return index;
  }

  std::string dir_;
};

TEST_F(ShardedSafetensors, ReadsEveryShard) {
  write_valid();
  const auto got = read_sharded_safetensors(dir_);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].name, "a");
  EXPECT_EQ(got[1].name, "b");
  EXPECT_EQ(got[2].name, "c");
  EXPECT_EQ(got[1].dtype, SourceDType::f16);
  EXPECT_EQ(got[2].shape, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(copy_of(got[2].bytes), pattern(4, 3));
  EXPECT_EQ(got[0].file->path(), dir_ + "/model-00001-of-00002.safetensors");
  EXPECT_EQ(read_sharded_safetensors(dir_ + "/").size(), 3u);
}

TEST_F(ShardedSafetensors, RejectsATensorMissingFromTheWeightMap) {
  ordered_json index = write_valid();
  index["weight_map"].erase("b");
  write_index(index);
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); },
                      {"model-00001-of-00002.safetensors", "tensor 'b'", "not listed"}));
}

TEST_F(ShardedSafetensors, RejectsATensorInAnotherShardThanMapped) {
  ordered_json index = write_valid();
  index["weight_map"]["c"] = "model-00001-of-00002.safetensors";
  write_index(index);
  EXPECT_TRUE(
      rejects([&] { read_sharded_safetensors(dir_); },
              {"tensor 'c'", "shard 'model-00001-of-00002.safetensors' does not contain it"}));

  index = write_valid();
  write_shard("model-00002-of-00002.safetensors",
              {{"a", "F32", {2}, pattern(8, 1)}, {"c", "BF16", {1, 2}, pattern(4, 3)}});
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); },
                      {"model-00002-of-00002.safetensors", "tensor 'a'",
                       "puts it in shard 'model-00001-of-00002.safetensors'"}));
}

TEST_F(ShardedSafetensors, RejectsAMappedTensorTheShardLacks) {
  ordered_json index = write_valid();
  index["weight_map"]["d"] = "model-00002-of-00002.safetensors";
  write_index(index);
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); },
                      {"model.safetensors.index.json", "tensor 'd'", "does not contain it"}));
}

TEST_F(ShardedSafetensors, RejectsShardNamesThatAreNotPlainFileNames) {
  for (const std::string shard : {"../model.safetensors", "sub/model.safetensors", "/etc/passwd",
                                  "..", "", "model..safetensors"}) {
    ordered_json index = write_valid();
    index["weight_map"]["a"] = shard;
    write_index(index);
    EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"not a plain file name"}))
        << shard;
  }
  ordered_json index = write_valid();
  index["weight_map"]["a"] = 1;
  write_index(index);
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"tensor 'a'", "not a file name"}));
}

TEST_F(ShardedSafetensors, RejectsMalformedIndexes) {
  write_valid();
  write_index_text("{\"weight_map\": {\"a\": \"x\"}, \"weight_map\": {}}");
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"duplicate key 'weight_map'"}));
  write_index_text("{\"metadata\": {}}");
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"weight_map", "missing"}));
  write_index_text("{\"weight_map\": {}}");
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"non-empty object"}));
  write_index_text("{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\"}, \"extra\": 1}");
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"unexpected key 'extra'"}));
  write_index_text("{\"metadata\": 3, \"weight_map\": {}}");
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"metadata", "not an object"}));
  write_index_text("[]");
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"not an object"}));
  write_index_text("{");
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); }, {"invalid JSON"}));
}

TEST_F(ShardedSafetensors, ReportsAMissingShardAsAnIoError) {
  // Whether the missing shard sorts after the others or before them.
  for (const char* missing :
       {"model-00003-of-00002.safetensors", "model-00000-of-00002.safetensors"}) {
    ordered_json index = write_valid();
    index["weight_map"]["c"] = missing;
    write_index(index);
    EXPECT_THROW(read_sharded_safetensors(dir_), IoError) << missing;
    index["weight_map"]["a"] = missing;  // a tensor whose real shard is read first
    write_index(index);
    EXPECT_THROW(read_sharded_safetensors(dir_), IoError) << missing;
  }
}

TEST_F(ShardedSafetensors, RejectsABadShard) {
  write_valid();
  write_file(dir_ + "/model-00002-of-00002.safetensors", pattern(5, 1));
  EXPECT_TRUE(rejects([&] { read_sharded_safetensors(dir_); },
                      {"model-00002-of-00002.safetensors", "header length"}));
}

}  // namespace
}  // namespace mobilellm
