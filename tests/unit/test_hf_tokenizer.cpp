// read_hf_tokenizer: the real tinystories tokenizer.json checked against facts taken with
// Python's json module, and hand-written tokenizer.json / tokenizer_config.json documents.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file.hpp"
#include "convert/tokenizer_sources.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

using json = nlohmann::json;

// A small valid tokenizer in the form the Hugging Face LLaMA conversion writes.
json base_tokenizer() {
  return json::parse(R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "<unk>", "special": true, "normalized": false},
      {"id": 1, "content": "<s>", "special": true},
      {"id": 2, "content": "</s>", "special": true}
    ],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
    ]},
    "pre_tokenizer": null,
    "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {
      "type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
      "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
      "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x00>": 3, "<0xFF>": 4, "▁": 5, "a": 6,
                "b": 7, "ab": 8, "▁ab": 9, "▁a": 10},
      "merges": ["a b", "▁ ab", "▁ a"]
    }
  })");
}

json base_config() {
  return json::parse(R"({
    "add_bos_token": true, "add_eos_token": false,
    "bos_token": "<s>",
    "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": false},
    "unk_token": "<unk>", "pad_token": null, "tokenizer_class": "LlamaTokenizer"
  })");
}

Vocabulary parse_text(const std::string& tokenizer, const std::string* config) {
  return read_hf_tokenizer(tokenizer, "tokenizer.json", config, "tokenizer_config.json");
}
Vocabulary parse(const json& tokenizer, const json& config = base_config()) {
  const std::string config_text = config.dump();
  return parse_text(tokenizer.dump(), &config_text);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The FormatError `f` throws; a test failure if it throws nothing or another type.
template <typename F>
FormatError format_error_from(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a FormatError, got: " << e.what();
    return {"", "", ""};
  }
  ADD_FAILURE() << "expected a FormatError, nothing was thrown";
  return {"", "", ""};
}
FormatError format_error(const json& tokenizer, const json& config = base_config()) {
  return format_error_from([&] { parse(tokenizer, config); });
}

// The message of the UnsupportedError parsing `tokenizer` throws.
std::string unsupported_error(const json& tokenizer) {
  try {
    parse(tokenizer);
  } catch (const UnsupportedError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an UnsupportedError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected an UnsupportedError, nothing was thrown";
  return {};
}

// FNV-1a over each string's bytes followed by a NUL: a fingerprint of a whole list.
std::uint64_t fingerprint(const std::vector<std::string>& items) {
  std::uint64_t h = 0xcbf29ce484222325u;
  for (const std::string& s : items) {
    for (const char c : s + '\0') h = (h ^ static_cast<std::uint8_t>(c)) * 0x100000001b3u;
  }
  return h;
}

// ---------------------------------------------------------------------- the real tokenizer

// Facts below were established with Python's json module from the two files: the vocabulary
// and merges (with their FNV-1a fingerprints computed as in fingerprint()), and each sampled
// piece's score from the documented rule: -(1 + rank of the first merge producing it), else 0.
TEST(HfTokenizer, ReadsTheTinyStoriesTokenizer) {
  const std::string dir = MOBILELLM_SHARED_DIR "/models/tinystories-656k";
  if (!file_exists(dir + "/tokenizer.json") || !file_exists(dir + "/tokenizer_config.json"))
    GTEST_SKIP() << dir << " is absent (../shared is not checked out)";
  const std::string config = read_text_file(dir + "/tokenizer_config.json", 1 << 20);
  const Vocabulary v =
      read_hf_tokenizer(read_text_file(dir + "/tokenizer.json", 1 << 24), dir + "/tokenizer.json",
                        &config, dir + "/tokenizer_config.json");
  ASSERT_EQ(v.size(), 2048u);
  ASSERT_EQ(v.scores.size(), 2048u);
  ASSERT_EQ(v.types.size(), 2048u);
  ASSERT_EQ(v.merges.size(), 1967u);
  EXPECT_EQ(fingerprint(v.pieces), 0xe779d216ad38f6fdu);
  EXPECT_EQ(fingerprint(v.merges), 0xada82559258e7020u);
  EXPECT_EQ(v.merges[0], "e ▁");
  EXPECT_EQ(v.merges[1], "d ▁");
  EXPECT_EQ(v.merges[2], "t h");
  EXPECT_EQ(v.merges[1966], "dog▁named▁ Max");
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.pad_id, 0);  // pad_token is "<unk>"
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);

  // Three added special tokens (the first also the unknown token); no <0xNN> pieces.
  EXPECT_EQ(v.types[0], TokenType::unknown);
  EXPECT_EQ(v.types[1], TokenType::control);
  EXPECT_EQ(v.types[2], TokenType::control);
  for (std::size_t id = 3; id < v.size(); ++id) ASSERT_EQ(v.types[id], TokenType::normal) << id;

  struct Sample {
    std::int32_t id;
    const char* piece;
    float score;
  };
  const Sample samples[] = {
      {0, "<unk>", 0},
      {1, "<|start_story|>", 0},
      {2, "<|end_story|>", 0},
      {3, "\n", 0},
      {4, "!", 0},
      {5, "\"", 0},
      {10, ".", 0},
      {30, "E", 0},
      {52, "_", 0},
      {53, "a", 0},
      {78, "z", 0},
      {79, "|", 0},
      {80, "▁", 0},
      {81, "e▁", -1},
      {82, "d▁", -2},
      {100, "▁and▁", -20},
      {200, "l▁", -120},
      {255, "fe", -175},
      {256, "\"\n", -176},
      {500, "kno", -420},
      {777, "ite▁", -697},
      {1000, "proud▁", -920},
      {1024, "they▁all▁", -944},
      {1500, "rough", -1420},
      {1999, "Jane▁", -1919},
      {2040, "treat", -1960},
      {2045, "said.\n", -1965},
      {2046, ".\nBut▁then,▁", -1966},
      {2047, "dog▁named▁Max", -1967},
  };
  for (const Sample& s : samples) {
    SCOPED_TRACE(s.id);
    EXPECT_EQ(v.pieces[s.id], s.piece);
    EXPECT_EQ(v.scores[s.id], s.score);
  }
}

// --------------------------------------------------------------------- hand-built documents

TEST(HfTokenizer, ReadsAHandBuiltTokenizer) {
  const Vocabulary v = parse(base_tokenizer());
  EXPECT_EQ(v.pieces, (std::vector<std::string>{"<unk>", "<s>", "</s>", "<0x00>", "<0xFF>", "▁",
                                                "a", "b", "ab", "▁ab", "▁a"}));
  EXPECT_EQ(v.merges, (std::vector<std::string>{"a b", "▁ ab", "▁ a"}));
  EXPECT_EQ(v.scores, (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0, -1, -2, -3}));
  EXPECT_EQ(v.types,
            (std::vector<TokenType>{TokenType::unknown, TokenType::control, TokenType::control,
                                    TokenType::byte, TokenType::byte, TokenType::normal,
                                    TokenType::normal, TokenType::normal, TokenType::normal,
                                    TokenType::normal, TokenType::normal}));
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
}

TEST(HfTokenizer, AcceptsMergesAsPairs) {
  json t = base_tokenizer();
  t["model"]["merges"] = json::parse(R"([["a", "b"], ["▁", "ab"], ["▁", "a"]])");
  const Vocabulary v = parse(t);
  EXPECT_EQ(v.merges, (std::vector<std::string>{"a b", "▁ ab", "▁ a"}));
  EXPECT_EQ(v.scores, parse(base_tokenizer()).scores);
}

TEST(HfTokenizer, ScoresComeFromTheFirstMergeCreatingAPiece) {
  json t = base_tokenizer();
  t["model"]["vocab"] = json::parse(R"({"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5,
                                        "abc": 6, "▁": 7})");
  t["model"]["merges"] = json::parse(R"(["b c", "a b", "a bc", "ab c"])");
  t["added_tokens"] = json::array();
  const Vocabulary v = parse(t, json::object());
  EXPECT_EQ(v.scores, (std::vector<float>{0, 0, 0, 0, -2, -1, -3, 0}));
  EXPECT_EQ(v.merges.size(), 4u);
}

TEST(HfTokenizer, WithoutMergesEveryScoreIsZero) {
  json t = base_tokenizer();
  t["model"]["merges"] = json::array();
  const Vocabulary v = parse(t);
  EXPECT_TRUE(v.merges.empty());
  EXPECT_EQ(v.scores, std::vector<float>(11, 0.0f));
}

TEST(HfTokenizer, WithoutTokenizerConfigOnlyTheUnknownTokenIsKnown) {
  const Vocabulary v = parse_text(base_tokenizer().dump(), nullptr);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, -1);
  EXPECT_EQ(v.eos_id, -1);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
}

TEST(HfTokenizer, ReadsTokenizerConfigFlagsAndTokens) {
  json c = base_config();
  c["add_bos_token"] = false;
  c["add_eos_token"] = true;
  c["pad_token"] = {{"content", "<unk>"}};
  c["bos_token"] = nullptr;
  const Vocabulary v = parse(base_tokenizer(), c);
  EXPECT_FALSE(v.add_bos);
  EXPECT_TRUE(v.add_eos);
  EXPECT_EQ(v.pad_id, 0);
  EXPECT_EQ(v.bos_id, -1);
  // Absent flags keep the defaults.
  const Vocabulary d = parse(base_tokenizer(), json{{"eos_token", "</s>"}});
  EXPECT_TRUE(d.add_bos);
  EXPECT_FALSE(d.add_eos);
  EXPECT_EQ(d.eos_id, 2);
}

TEST(HfTokenizer, RejectsBadTokenizerConfigs) {
  struct Case {
    const char* key;
    json value;
    const char* field;
    const char* detail;
  };
  const Case cases[] = {
      {"bos_token", "<missing>", "bos_token", "\"<missing>\" is not in the vocabulary"},
      {"eos_token", 2, "eos_token", "expected a string, found the number 2"},
      {"eos_token", json{{"text", "</s>"}}, "eos_token.content", "is missing"},
      {"pad_token", json{{"content", 5}}, "pad_token.content", "expected a string"},
      {"unk_token", "<s>", "unk_token", "is id 1 but tokenizer.json says model.unk_token is id 0"},
      {"add_bos_token", "yes", "add_bos_token", "expected true or false, found the string"},
      {"add_eos_token", 1, "add_eos_token", "expected true or false, found the number 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    json config = base_config();
    config[c.key] = c.value;
    const FormatError e = format_error(base_tokenizer(), config);
    EXPECT_EQ(e.file(), "tokenizer_config.json");
    EXPECT_EQ(e.field(), c.field);
    EXPECT_TRUE(contains(e.detail(), c.detail)) << e.what();
  }
  const std::string not_object = "[1, 2]";
  const FormatError e =
      format_error_from([&] { parse_text(base_tokenizer().dump(), &not_object); });
  EXPECT_EQ(e.file(), "tokenizer_config.json");
  EXPECT_EQ(e.field(), "(document)");
}

// ---------------------------------------------------------------------- types and ids

TEST(HfTokenizer, ClassifiesPieceTypes) {
  json t = base_tokenizer();
  t["model"]["vocab"] = json::parse(R"({"<unk>": 0, "<0x41>": 1, "<0x0a>": 2, "<0x4G>": 3,
                                        "<s>": 4, "<extra>": 5, "▁": 6})");
  t["model"]["merges"] = json::array();
  t["added_tokens"] = json::parse(R"([
      {"id": 0, "content": "<unk>", "special": true},
      {"id": 4, "content": "<s>", "special": true},
      {"id": 5, "content": "<extra>", "special": false}])");
  const Vocabulary v = parse(t, json::object());
  EXPECT_EQ(v.types, (std::vector<TokenType>{TokenType::unknown, TokenType::byte, TokenType::normal,
                                             TokenType::normal, TokenType::control,
                                             TokenType::user_defined, TokenType::normal}));
}

TEST(HfTokenizer, AddedTokensExtendTheVocabularyContiguously) {
  json t = base_tokenizer();
  // Out of order on purpose: extension follows ids, not list order.
  t["added_tokens"].push_back(json{{"id", 12}, {"content", "<|b|>"}, {"special", false}});
  t["added_tokens"].push_back(json{{"id", 11}, {"content", "<|a|>"}, {"special", true}});
  const Vocabulary v = parse(t);
  ASSERT_EQ(v.size(), 13u);
  EXPECT_EQ(v.pieces[11], "<|a|>");
  EXPECT_EQ(v.pieces[12], "<|b|>");
  EXPECT_EQ(v.types[11], TokenType::control);
  EXPECT_EQ(v.types[12], TokenType::user_defined);
  EXPECT_EQ(v.scores[12], 0.0f);
}

TEST(HfTokenizer, RejectsInconsistentAddedTokens) {
  struct Case {
    json token;
    const char* field;
    const char* detail;
  };
  const Case cases[] = {
      {{{"id", 1}, {"content", "<bos>"}}, "added_tokens[3]", "id 1 is \"<bos>\" here but \"<s>\""},
      {{{"id", 12}, {"content", "<gap>"}}, "added_tokens[3].id", "is 12, leaving a gap after"},
      {{{"id", 11}, {"content", "ab"}}, "added_tokens", "\"ab\" (id 11) duplicates id 8"},
      {{{"id", -1}, {"content", "x"}}, "added_tokens[3].id", "is -1, outside"},
      {{{"id", "11"}, {"content", "x"}}, "added_tokens[3].id", "expected an integer"},
      {{{"content", "x"}}, "added_tokens[3].id", "is missing"},
      {{{"id", 11}}, "added_tokens[3].content", "is missing"},
      {{{"id", 11}, {"content", ""}}, "added_tokens[3].content", "is empty"},
      {{{"id", 11}, {"content", "x"}, {"special", "yes"}},
       "added_tokens[3].special",
       "expected true or false"},
      {"<x>", "added_tokens[3]", "expected an object, found the string \"<x>\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.token.dump());
    json t = base_tokenizer();
    t["added_tokens"].push_back(c.token);
    const FormatError e = format_error(t);
    EXPECT_EQ(e.file(), "tokenizer.json");
    EXPECT_EQ(e.field(), c.field);
    EXPECT_TRUE(contains(e.detail(), c.detail)) << e.what();
  }
  json t = base_tokenizer();
  t["added_tokens"] = {{"id", 0}};
  EXPECT_EQ(format_error(t).field(), "added_tokens");
}

TEST(HfTokenizer, RejectsBadVocabularies) {
  struct Case {
    json vocab;
    const char* field;
    const char* detail;
  };
  const Case cases[] = {
      {json::array(), "model.vocab", "expected an object, found an array"},
      {json::object(), "model.vocab", "is empty"},
      {{{"<unk>", 0}, {"a", "1"}}, "model.vocab[\"a\"]", "expected an integer, found the string"},
      {{{"<unk>", 0}, {"a", 1.5}}, "model.vocab[\"a\"]", "found the number 1.5"},
      {{{"<unk>", 0}, {"a", -1}}, "model.vocab[\"a\"]", "is -1, outside 0..1"},
      {{{"<unk>", 0}, {"a", 2}}, "model.vocab[\"a\"]", "is 2, outside 0..1"},  // a gap at 1
      {{{"<unk>", 0}, {"a", 18446744073709551615u}}, "model.vocab[\"a\"]", "outside 0..1"},
      {{{"<unk>", 0}, {"a", 0}}, "model.vocab[\"a\"]", "id 0 is also given to \"<unk>\""},
      {{{"<unk>", 0}, {"", 1}}, "model.vocab[\"\"]", "piece is empty"},
      {{{"<unk>", 0}, {std::string("a\0b", 3), 1}}, "model.vocab[\"a\\x00b\"]", "NUL"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.vocab.dump());
    json t = base_tokenizer();
    t["model"]["vocab"] = c.vocab;
    t["model"]["merges"] = json::array();
    t["added_tokens"] = json::array();
    const FormatError e = format_error(t, json::object());
    EXPECT_EQ(e.field(), c.field);
    EXPECT_TRUE(contains(e.detail(), c.detail)) << e.what();
  }
}

TEST(HfTokenizer, RejectsBadMerges) {
  struct Case {
    json merge;
    const char* detail;
  };
  const Case cases[] = {
      {"ab", "is not \"left right\" with exactly one space"},
      {"a  b", "exactly one space"},
      {" ab", "exactly one space"},
      {"a b ", "exactly one space"},
      {"a c", "\"c\" is not in model.vocab"},
      {"b a", "the merged piece \"ba\" is not in model.vocab"},
      {"a b", "\"a b\" repeats an earlier merge"},
      {json::array({"a", "b", "c"}), "expected \"left right\" or [\"left\", \"right\"]"},
      {json::array({"a", 1}), "found an array"},
      {7, "found the number 7"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.merge.dump());
    json t = base_tokenizer();
    t["model"]["merges"].push_back(c.merge);
    const FormatError e = format_error(t);
    EXPECT_EQ(e.field(), "model.merges[3]");
    EXPECT_TRUE(contains(e.detail(), c.detail)) << e.what();
  }
  json t = base_tokenizer();
  t["model"].erase("merges");
  EXPECT_EQ(format_error(t).field(), "model.merges");
  t["model"]["merges"] = "a b";
  EXPECT_TRUE(contains(format_error(t).detail(), "expected an array"));
}

TEST(HfTokenizer, PiecesWithSpacesCannotBeMerged) {
  json t = base_tokenizer();
  t["model"]["vocab"]["a b"] = 11;
  t["model"]["vocab"]["a bb"] = 12;
  t["model"]["merges"].push_back(json::array({"a b", "b"}));
  const std::string what = unsupported_error(t);
  EXPECT_TRUE(contains(what, "model.merges[3]")) << what;
  EXPECT_TRUE(contains(what, "space")) << what;
}

TEST(HfTokenizer, TheUnknownTokenMustBeAPieceOrAbsent) {
  json t = base_tokenizer();
  t["model"]["unk_token"] = "<oov>";
  const FormatError e = format_error(t);
  EXPECT_EQ(e.field(), "model.unk_token");
  EXPECT_TRUE(contains(e.detail(), "\"<oov>\" is not in the vocabulary")) << e.what();

  t["model"]["unk_token"] = nullptr;
  json c = base_config();
  c.erase("unk_token");
  const Vocabulary v = parse(t, c);
  EXPECT_EQ(v.unk_id, -1);
  EXPECT_EQ(v.types[0], TokenType::control);
}

// -------------------------------------------------------------------- model options

TEST(HfTokenizer, RejectsModelsOtherThanByteFallbackBpe) {
  struct Case {
    const char* key;
    json value;
    const char* expected;
  };
  const Case cases[] = {
      {"type", "Unigram", "model.type: is \"Unigram\"; only \"BPE\""},
      {"type", "WordPiece", "\"WordPiece\""},
      {"byte_fallback", false, "model.byte_fallback"},
      {"byte_fallback", nullptr, "model.byte_fallback"},
      {"dropout", 0.1, "model.dropout: is the number 0.1"},
      {"continuing_subword_prefix", "##", "model.continuing_subword_prefix"},
      {"end_of_word_suffix", "</w>", "model.end_of_word_suffix"},
      {"ignore_merges", true, "model.ignore_merges"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    json t = base_tokenizer();
    t["model"][c.key] = c.value;
    const std::string what = unsupported_error(t);
    EXPECT_TRUE(contains(what, c.expected)) << what;
  }
  // Neutral settings are accepted.
  json t = base_tokenizer();
  t["model"]["dropout"] = 0.0;
  t["model"]["continuing_subword_prefix"] = "";
  EXPECT_EQ(parse(t).size(), 11u);
  t["model"]["type"] = 3;
  EXPECT_EQ(format_error(t).field(), "model.type");
}

// ------------------------------------------------------------ normalizer and pre-tokenizer

TEST(HfTokenizer, AcceptsTheSentencePieceCompatibleSpaceHandling) {
  const json replace = json::parse(R"({"type": "Replace", "pattern": {"String": " "},
                                       "content": "▁"})");
  const json prepend = json::parse(R"({"type": "Prepend", "prepend": "▁"})");
  auto metaspace = [](json extra) {
    json m = {{"type", "Metaspace"}, {"replacement", "▁"}, {"split", false}};
    m.update(extra);
    return m;
  };
  struct Case {
    json normalizer, pre_tokenizer;
    bool space_prefix;
  };
  const Case cases[] = {
      {{{"type", "Sequence"}, {"normalizers", json::array({replace, prepend})}}, nullptr, true},
      {{{"type", "Sequence"}, {"normalizers", json::array({replace})}}, nullptr, false},
      {replace, nullptr, false},
      {nullptr, metaspace({{"prepend_scheme", "always"}}), true},
      {nullptr, metaspace({{"prepend_scheme", "first"}}), true},
      {nullptr, metaspace({{"prepend_scheme", "never"}}), false},
      {nullptr, metaspace({{"add_prefix_space", false}}), false},
      {nullptr, metaspace(json::object()), true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.normalizer.dump() + " " + c.pre_tokenizer.dump());
    json t = base_tokenizer();
    t["normalizer"] = c.normalizer;
    t["pre_tokenizer"] = c.pre_tokenizer;
    EXPECT_EQ(parse(t).add_space_prefix, c.space_prefix);
  }
}

TEST(HfTokenizer, RejectsOtherSpaceHandling) {
  const json replace = json::parse(R"({"type": "Replace", "pattern": {"String": " "},
                                       "content": "▁"})");
  const json prepend = json::parse(R"({"type": "Prepend", "prepend": "▁"})");
  const json metaspace = {{"type", "Metaspace"}, {"replacement", "▁"}, {"split", false}};
  struct Case {
    json normalizer, pre_tokenizer;
    const char* expected;
  };
  const Case cases[] = {
      {{{"type", "Sequence"}, {"normalizers", json::array({json{{"type", "Lowercase"}}, replace})}},
       nullptr,
       "normalizer.normalizers[0].type: is \"Lowercase\""},
      {{{"type", "NFKC"}}, nullptr, "normalizer.type: is \"NFKC\""},
      {{{"type", "Sequence"}, {"normalizers", json::array({prepend})}}, nullptr, "has 0 Replace"},
      {{{"type", "Sequence"}, {"normalizers", json::array({prepend, prepend, replace})}},
       nullptr,
       "and 2 Prepend"},
      {{{"type", "Sequence"}, {"normalizers", json::array({replace, replace})}},
       nullptr,
       "has 2 Replace"},
      {{{"type", "Prepend"}, {"prepend", "_"}}, nullptr, "normalizer.prepend: is \"_\""},
      {{{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", "▁"}},
       nullptr,
       "replaces a regular expression"},
      {{{"type", "Replace"}, {"pattern", {{"String", "\t"}}}, {"content", "▁"}},
       nullptr,
       "replaces the string \"\\x09\""},
      {replace, metaspace, "pre_tokenizer: must be null"},
      {nullptr, nullptr, "normalizer: and pre_tokenizer are both null"},
      {nullptr, {{"type", "ByteLevel"}}, "pre_tokenizer.type: is \"ByteLevel\""},
      {nullptr, {{"type", "Metaspace"}, {"replacement", "▁"}}, "pre_tokenizer.split"},
      {nullptr,
       {{"type", "Metaspace"}, {"replacement", "▁"}, {"split", true}},
       "pre_tokenizer.split"},
      {nullptr,
       {{"type", "Metaspace"}, {"replacement", "_"}, {"split", false}},
       "pre_tokenizer.replacement: is \"_\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.normalizer.dump() + " " + c.pre_tokenizer.dump());
    json t = base_tokenizer();
    t["normalizer"] = c.normalizer;
    t["pre_tokenizer"] = c.pre_tokenizer;
    const std::string what = unsupported_error(t);
    EXPECT_TRUE(contains(what, c.expected)) << what;
  }
}

TEST(HfTokenizer, RejectsMalformedSpaceHandling) {
  struct Case {
    json normalizer, pre_tokenizer;
    const char* field;
  };
  const Case cases[] = {
      {"Sequence", nullptr, "normalizer"},
      {{{"type", "Sequence"}}, nullptr, "normalizer.normalizers"},
      {{{"type", "Sequence"}, {"normalizers", json::array({7})}},
       nullptr,
       "normalizer.normalizers[0]"},
      {{{"kind", "Replace"}}, nullptr, "normalizer.type"},
      {{{"type", "Replace"}, {"pattern", " "}, {"content", "▁"}}, nullptr, "normalizer.pattern"},
      {nullptr,
       {{"type", "Metaspace"}, {"replacement", "▁"}, {"split", false}, {"prepend_scheme", "x"}},
       "pre_tokenizer.prepend_scheme"},
      {nullptr, {{"type", "Metaspace"}, {"split", false}}, "pre_tokenizer.replacement"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.normalizer.dump() + " " + c.pre_tokenizer.dump());
    json t = base_tokenizer();
    t["normalizer"] = c.normalizer;
    t["pre_tokenizer"] = c.pre_tokenizer;
    EXPECT_EQ(format_error(t).field(), c.field);
  }
}

// ------------------------------------------------------------------------ the document

TEST(HfTokenizer, RejectsMalformedJson) {
  struct Case {
    std::string text;
    const char* field;
  };
  const Case cases[] = {
      {"", "(json)"},
      {"{\"model\": ", "(json)"},
      {"{\"model\": {}} trailing", "(json)"},
      {"{\"model\": \"\xff\"}", "(json)"},
      {"{\"model\": 1e400}", "(json)"},
      {"[]", "(document)"},
      {"{}", "model"},
      {"{\"model\": []}", "model"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const FormatError e = format_error_from([&] { parse_text(c.text, nullptr); });
    EXPECT_EQ(e.file(), "tokenizer.json");
    EXPECT_EQ(e.field(), c.field);
  }
  // Duplicate keys: the last would silently win in nlohmann's DOM.
  const std::string dump = base_tokenizer().dump();
  const std::string twice =
      dump.substr(0, dump.find("\"b\":7")) + "\"b\":7," + dump.substr(dump.find("\"b\":7"));
  const FormatError dup = format_error_from([&] { parse_text(twice, nullptr); });
  EXPECT_EQ(dup.field(), "(json)");
  EXPECT_EQ(dup.detail(), "the key \"b\" appears twice in one object");
  // Syntax errors carry the byte offset.
  const FormatError e = format_error_from([&] { parse_text("{\"model\": nope}", nullptr); });
  EXPECT_TRUE(e.offset().has_value());
  EXPECT_FALSE(contains(e.detail(), "[json.exception")) << e.what();
}

}  // namespace
}  // namespace mobilellm
