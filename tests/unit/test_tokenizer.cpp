// Tokenizer: encode/decode rules on hand-built vocabularies (expected pieces worked out by hand
// from the rules in tokenizer.hpp, and checked against the sentencepiece library where it applies),
// the real MobileLLM tokenizer.model and tinystories tokenizer.json against ids taken from
// reference implementations, the streaming decoder, hostile vocabularies, and 1 MB inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/file.hpp"
#include "common/utf8.hpp"
#include "convert/tokenizer_sources.hpp"
#include "mobilellm/error.hpp"
#include "mobilellm/tokenizer.hpp"

namespace mobilellm {
namespace {

const std::string kShared = MOBILELLM_SHARED_DIR;
const std::string kSpace = "\xE2\x96\x81";  // '▁'
const std::string kReplacement = "\xEF\xBF\xBD";

// A SentencePiece-style vocabulary: <unk>=0, <s>=1, </s>=2, then (optionally) the 256 byte
// pieces, then whatever a test adds.
struct VocabBuilder {
  Vocabulary v;

  explicit VocabBuilder(bool bytes = true, bool space_prefix = true) {
    add("<unk>", 0, TokenType::unknown);
    add("<s>", 0, TokenType::control);
    add("</s>", 0, TokenType::control);
    v.unk_id = 0;
    v.bos_id = 1;
    v.eos_id = 2;
    v.add_space_prefix = space_prefix;
    if (bytes) {
      for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        add(name, 0, TokenType::byte);
      }
    }
  }
  VocabBuilder& add(const std::string& piece, float score, TokenType type = TokenType::normal) {
    v.pieces.push_back(piece);
    v.scores.push_back(score);
    v.types.push_back(type);
    return *this;
  }
  VocabBuilder& merge(const std::string& m) {
    v.merges.push_back(m);
    return *this;
  }
};

std::vector<std::string> pieces_of(const Tokenizer& t, const std::vector<std::int32_t>& ids) {
  std::vector<std::string> out;
  for (const auto id : ids) out.emplace_back(t.piece(id));
  return out;
}

std::vector<std::string> encode_pieces(const Tokenizer& t, std::string_view text) {
  return pieces_of(t, t.encode(text, false));
}

using Pieces = std::vector<std::string>;

// ------------------------------------------------------------------ SentencePiece merge rules

TEST(Tokenizer, HigherScoreMergesFirst) {
  VocabBuilder a(true, false), b(true, false);
  for (auto* vb : {&a, &b}) vb->add("a", -10).add("b", -10).add("c", -10);
  a.add("ab", -1).add("bc", -2);
  b.add("ab", -2).add("bc", -1);
  EXPECT_EQ(encode_pieces(Tokenizer(a.v), "abc"), (Pieces{"ab", "c"}));
  EXPECT_EQ(encode_pieces(Tokenizer(b.v), "abc"), (Pieces{"a", "bc"}));
}

// Scores order merges across the whole float line: signs, zeros of either sign (one score),
// infinities, and NaN (which ranks with -infinity, below every finite score).
TEST(Tokenizer, ScoreOrderCoversSignsZerosInfinitiesAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float lowest = std::numeric_limits<float>::lowest();
  const float denormal = std::numeric_limits<float>::denorm_min();
  // {score of "ab", score of "bc", what "abc" must become}
  const struct {
    float ab, bc;
    Pieces want;
  } cases[] = {
      {1.0f, -1.0f, {"ab", "c"}},       {-1.0f, 1.0f, {"a", "bc"}},
      {0.0f, -0.0f, {"ab", "c"}},       {-0.0f, 0.0f, {"ab", "c"}},  // a tie: leftmost
      {denormal, 0.0f, {"ab", "c"}},    {-denormal, 0.0f, {"a", "bc"}},
      {inf, 3e38f, {"ab", "c"}},        {lowest, -inf, {"ab", "c"}},
      {-inf, lowest, {"a", "bc"}},      {nan, lowest, {"a", "bc"}},
      {lowest, nan, {"ab", "c"}},       {nan, -inf, {"ab", "c"}},  // NaN ties with -inf
      {-2.5f, -2.25f, {"a", "bc"}},     {2.25f, 2.5f, {"a", "bc"}},
  };
  for (const auto& c : cases) {
    VocabBuilder vb(true, false);
    vb.add("a", -10).add("b", -10).add("c", -10).add("ab", c.ab).add("bc", c.bc);
    EXPECT_EQ(encode_pieces(Tokenizer(vb.v), "abc"), c.want) << "ab " << c.ab << ", bc " << c.bc;
  }
}

TEST(Tokenizer, EqualScoresMergeLeftmostFirst) {
  VocabBuilder vb(true, false);
  vb.add("a", -10).add("aa", -1);
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "aaa"), (Pieces{"aa", "a"}));
  EXPECT_EQ(encode_pieces(t, "aaaaa"), (Pieces{"aa", "aa", "a"}));
}

TEST(Tokenizer, DummyPrefixAndSpacesAreKept) {
  VocabBuilder vb;
  vb.add(kSpace, -1).add("a", -1).add(kSpace + kSpace, -1).add(kSpace + "a", -2);
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "  a"), (Pieces{kSpace + kSpace, kSpace + "a"}));
  EXPECT_EQ(encode_pieces(t, "a  "), (Pieces{kSpace + "a", kSpace + kSpace}));
  EXPECT_TRUE(t.encode("", false).empty());
  EXPECT_EQ(t.encode("", true), (std::vector<std::int32_t>{1}));

  VocabBuilder no_prefix(true, false);
  no_prefix.add(kSpace, -1).add("a", -1).add(kSpace + "a", -2);
  EXPECT_EQ(encode_pieces(Tokenizer(no_prefix.v), "a a"), (Pieces{"a", kSpace + "a"}));
}

TEST(Tokenizer, ControlPiecesAreNeverProducedFromText) {
  VocabBuilder vb;
  for (const char* p : {"a", "s", "<", ">", "/", "\xE2\x96\x81"}) vb.add(p, -1);
  vb.add(kSpace + "<", -1).add(kSpace + "a", -2);
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "<s>a</s>"),
            (Pieces{kSpace + "<", "s", ">", "a", "<", "/", "s", ">"}));
}

TEST(Tokenizer, ByteFallbackForCharactersNotInTheVocabulary) {
  VocabBuilder vb;
  vb.add(kSpace, -1).add("a", -1).add(kSpace + "a", -2);
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "a\xC3\xA9\xC3\xBF"),  // "aéÿ"
            (Pieces{kSpace + "a", "<0xC3>", "<0xA9>", "<0xC3>", "<0xBF>"}));
  EXPECT_EQ(encode_pieces(t, std::string("\0a", 2)), (Pieces{kSpace, "<0x00>", "a"}));
}

TEST(Tokenizer, InvalidUtf8BytesBecomeTheirBytePieces) {
  VocabBuilder vb(true, false);
  vb.add("a", -1).add("b", -1).add("ab", -1);
  const Tokenizer t(vb.v);
  // Stray continuation, overlong, surrogate, truncated at the end, above U+10FFFF: each byte
  // stands alone, and its neighbours still merge across nothing.
  EXPECT_EQ(encode_pieces(t,
                          "a\x80"
                          "b"),
            (Pieces{"a", "<0x80>", "b"}));
  EXPECT_EQ(encode_pieces(t,
                          "\xC0\x80"
                          "ab"),
            (Pieces{"<0xC0>", "<0x80>", "ab"}));
  EXPECT_EQ(encode_pieces(t, "\xED\xA0\x80"), (Pieces{"<0xED>", "<0xA0>", "<0x80>"}));
  EXPECT_EQ(encode_pieces(t, "ab\xE3\x81"), (Pieces{"ab", "<0xE3>", "<0x81>"}));
  EXPECT_EQ(encode_pieces(t, "\xF4\x90\x80\x80"), (Pieces{"<0xF4>", "<0x90>", "<0x80>", "<0x80>"}));
  EXPECT_EQ(encode_pieces(t, "\xFF"), (Pieces{"<0xFF>"}));
}

TEST(Tokenizer, RunsOfUnknownCharactersFuseWithoutBytePieces) {
  VocabBuilder vb(/*bytes=*/false);
  vb.add(kSpace, -1).add("a", -1).add("b", -1);
  const Tokenizer t(vb.v);
  // "a日本b", "日 本", and an invalid byte: each run without pieces is one <unk>.
  EXPECT_EQ(encode_pieces(t,
                          "a\xE6\x97\xA5\xE6\x9C\xAC"
                          "b"),
            (Pieces{kSpace, "a", "<unk>", "b"}));
  EXPECT_EQ(encode_pieces(t, "\xE6\x97\xA5 \xE6\x9C\xAC"),
            (Pieces{kSpace, "<unk>", kSpace, "<unk>"}));
  EXPECT_EQ(encode_pieces(t, "a\xFF\xE6\x97\xA5"), (Pieces{kSpace, "a", "<unk>"}));
}

TEST(Tokenizer, UserDefinedPiecesMatchGreedilyAndNeverMerge) {
  VocabBuilder vb;
  vb.add(kSpace, -1).add("a", -2).add("b", -3).add("c", -4);
  vb.add("<tag>", 0, TokenType::user_defined).add("<ta", 0, TokenType::user_defined);
  vb.add("ab", -1).add("ta", -1);
  const Tokenizer t(vb.v);
  // Checked against sentencepiece with the same model.
  EXPECT_EQ(encode_pieces(t, "<tag>ab"), (Pieces{kSpace, "<tag>", "ab"}));
  EXPECT_EQ(encode_pieces(t, "x<tagab"), (Pieces{kSpace, "<0x78>", "<ta", "<0x67>", "ab"}));
  EXPECT_EQ(encode_pieces(t, "ab<ta"), (Pieces{kSpace, "ab", "<ta"}));
}

TEST(Tokenizer, LeftoverUnusedPiecesAreSplitBack) {
  VocabBuilder vb;
  vb.add(kSpace, -1).add("a", -2).add("b", -3).add("c", -4).add("d", -5);
  vb.add("ab", -0.5f, TokenType::unused).add("abc", -1.5f);
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "abc"), (Pieces{kSpace, "abc"}));  // "ab" was a step to "abc"
  EXPECT_EQ(encode_pieces(t, "abd"), (Pieces{kSpace, "a", "b", "d"}));
  EXPECT_EQ(encode_pieces(t, "ab"), (Pieces{kSpace, "a", "b"}));
}

// --------------------------------------------------------------- Hugging Face merge ranks

TEST(Tokenizer, MergeRanksDecideOverScores) {
  VocabBuilder vb(true, false);
  vb.add("a", 0).add("b", 0).add("c", 0).add("ab", -5).add("bc", -1);
  vb.merge("a b").merge("b c");
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "abc"), (Pieces{"ab", "c"}));
}

TEST(Tokenizer, OnlyListedPairsMerge) {
  VocabBuilder vb(true, false);
  vb.add("a", 0).add("b", 0).add("c", 0).add("ab", 0).add("bc", 0);
  vb.merge("b c");  // "ab" is a piece, but "a b" is no merge
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "ab"), (Pieces{"a", "b"}));
  EXPECT_EQ(encode_pieces(t, "abc"), (Pieces{"a", "bc"}));
}

TEST(Tokenizer, MergeRanksApplyToBytePiecesAfterFallback) {
  VocabBuilder vb(true, false);
  vb.add("a", 0).add("<0xC3><0xA9>", 0);
  vb.merge("<0xC3> <0xA9>");
  const Tokenizer t(vb.v);
  EXPECT_EQ(encode_pieces(t, "a\xC3\xA9"), (Pieces{"a", "<0xC3><0xA9>"}));
  EXPECT_EQ(encode_pieces(t, "\xC3\xBF"), (Pieces{"<0xC3>", "<0xBF>"}));
}

// ------------------------------------------------------------------------------- decoding

TEST(Tokenizer, DecodeRules) {
  VocabBuilder vb;
  vb.add(kSpace, -1).add("a", -1).add(kSpace + "a", -1).add("b" + kSpace + "c", -1);
  const Tokenizer t(vb.v);
  const auto id = [&](const std::string& p) {
    return static_cast<std::int32_t>(std::find(vb.v.pieces.begin(), vb.v.pieces.end(), p) -
                                     vb.v.pieces.begin());
  };
  const auto dec = [&](std::initializer_list<std::int32_t> ids) {
    return t.decode(std::vector<std::int32_t>(ids));
  };
  const std::int32_t sp = id(kSpace), a = id("a"), sa = id(kSpace + "a"),
                     bc = id("b" + kSpace + "c");
  const auto byte = [](int b) { return 3 + b; };
  EXPECT_EQ(dec({}), "");
  EXPECT_EQ(dec({sa, sa}), "a a");  // the dummy prefix is dropped once
  EXPECT_EQ(dec({sp, sp, sp}), "  ");
  EXPECT_EQ(dec({1, sp, 2, sp, a}), " a");  // control pieces: nothing, and not "first"
  EXPECT_EQ(dec({a, bc}), "ab c");
  EXPECT_EQ(dec({0, sa}), " \xE2\x81\x87  a");  // unknown: " ⁇ ", and it counts as first
  EXPECT_EQ(dec({byte(0x20), sa}), "  a");      // byte pieces count as first too
  EXPECT_EQ(dec({byte(0xE3), byte(0x81), byte(0x82)}), "\xE3\x81\x82");  // "あ"
  EXPECT_EQ(dec({byte(0xE3), 1, byte(0x81), byte(0x82)}),
            kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(dec({byte(0xE3), byte(0x81), sa}), kReplacement + kReplacement + " a");
  EXPECT_EQ(dec({byte(0xF0), byte(0x9F), byte(0x98), byte(0x80), byte(0x80)}),
            "\xF0\x9F\x98\x80" + kReplacement);
  EXPECT_EQ(dec({byte(0xE0), byte(0x80), byte(0x80)}), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(dec({byte(0xEF), byte(0xBF), byte(0xBD)}), kReplacement);  // a real U+FFFD

  VocabBuilder no_prefix(true, false);
  no_prefix.add(kSpace + "a", -1);
  const Tokenizer t2(no_prefix.v);
  EXPECT_EQ(t2.decode(t2.encode(" a", false)), " a");
}

TEST(Tokenizer, DecodeRejectsIdsOutsideTheVocabulary) {
  VocabBuilder vb;
  const Tokenizer t(vb.v);
  const std::int32_t n = static_cast<std::int32_t>(t.size());
  for (const std::int32_t bad : {-1, n, 40000, INT32_MIN}) {
    try {
      t.decode(std::vector<std::int32_t>{1, bad});
      ADD_FAILURE() << "no error for id " << bad;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
    }
    EXPECT_THROW(t.piece(bad), InvalidArgument);
    EXPECT_THROW(t.type(bad), InvalidArgument);
  }
}

TEST(Tokenizer, StreamDecoderNeverSplitsACharacterAndMatchesDecode) {
  VocabBuilder vb;
  vb.add(kSpace, -1).add("a", -1).add(kSpace + "a", -1).add("\xC3\xA9", -1);
  const Tokenizer t(vb.v);
  std::mt19937 rng(1234);
  // Byte pieces of valid characters (possibly cut short), stray bytes, and other pieces.
  const std::vector<std::string> chars = {"\xC3\xA9", "\xE3\x81\x82", "\xF0\x9F\x98\x80", "a"};
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::int32_t> ids;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const unsigned r = rng() % 10;
      if (r < 4) {
        const std::string& c = chars[rng() % chars.size()];
        const std::size_t len = 1 + rng() % c.size();
        for (std::size_t k = 0; k < len; ++k) ids.push_back(3 + static_cast<unsigned char>(c[k]));
      } else if (r < 6) {
        ids.push_back(static_cast<std::int32_t>(3 + rng() % 256));
      } else {
        ids.push_back(static_cast<std::int32_t>(rng() % 3 == 0 ? rng() % 3 : 259 + rng() % 4));
      }
    }
    Tokenizer::StreamDecoder stream(t);
    std::string joined;
    for (const auto id : ids) {
      const std::string part = stream.push(id);
      ASSERT_TRUE(is_valid_utf8(part)) << "partial character after id " << id;
      joined += part;
    }
    joined += stream.finish();
    ASSERT_EQ(joined, t.decode(ids));
  }
}

TEST(Tokenizer, StreamDecoderStateSurvivesErrorsAndFinishStartsOver) {
  VocabBuilder vb;
  vb.add(kSpace + "a", -1);
  const Tokenizer t(vb.v);
  const std::int32_t sa = static_cast<std::int32_t>(t.size()) - 1;
  Tokenizer::StreamDecoder stream(t);
  EXPECT_EQ(stream.push(sa), "a");
  EXPECT_EQ(stream.push(3 + 0xE3), "");
  EXPECT_THROW(stream.push(-7), InvalidArgument);
  EXPECT_EQ(stream.push(3 + 0x81), "");
  EXPECT_EQ(stream.push(3 + 0x82), "\xE3\x81\x82");
  EXPECT_EQ(stream.push(3 + 0xE3), "");
  EXPECT_EQ(stream.finish(), kReplacement);
  EXPECT_EQ(stream.push(sa), "a");  // a new text: the dummy prefix is dropped again
  EXPECT_EQ(stream.push(sa), " a");
}

TEST(Tokenizer, StreamDecoderFollowsAMovedTokenizer) {
  VocabBuilder vb;
  vb.add(kSpace + "a", -1);
  Tokenizer original(vb.v);
  const std::int32_t sa = static_cast<std::int32_t>(original.size()) - 1;
  Tokenizer::StreamDecoder stream(original);
  EXPECT_EQ(stream.push(sa), "a");
  const Tokenizer moved = std::move(original);
  EXPECT_EQ(stream.push(sa), " a");
  EXPECT_EQ(moved.decode(std::vector<std::int32_t>{sa, sa}), "a a");
}

// ------------------------------------------------------------------- hostile vocabularies

TEST(Tokenizer, RejectsInconsistentVocabularies) {
  const auto rejects = [](const Vocabulary& v, const std::string& needle) {
    try {
      Tokenizer t(v);
      ADD_FAILURE() << "accepted; expected an error mentioning " << needle;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  {
    VocabBuilder vb;
    vb.v.scores.pop_back();
    rejects(vb.v, "scores");
  }
  {
    VocabBuilder vb;
    vb.v.bos_id = 100000;
    rejects(vb.v, "100000");
  }
  {
    VocabBuilder vb;
    vb.add("x", 0, static_cast<TokenType>(9));
    rejects(vb.v, "token type 9");
  }
  {
    VocabBuilder vb(false);
    vb.add("<0xZZ>", 0, TokenType::byte);
    rejects(vb.v, "<0xZZ>");
  }
  {
    VocabBuilder vb;
    vb.add("<0x41>", 0, TokenType::byte);
    rejects(vb.v, "repeats the byte");
  }
  {
    VocabBuilder vb;
    vb.add("ab", 0).add("ab", -1);
    rejects(vb.v, "repeats piece");
  }
  {
    VocabBuilder vb;
    vb.add("", 0);
    rejects(vb.v, "empty");
  }
  {
    VocabBuilder vb(false);
    vb.v.unk_id = -1;
    vb.v.types[0] = TokenType::control;
    rejects(vb.v, "no unknown piece");
  }
  for (const char* bad : {"ab", "a  b", " a", "a b c", "a x", "a b"}) {
    VocabBuilder vb;
    vb.add("a", 0).add("b", 0);  // no "ab": the last merge joins into no piece
    vb.merge(bad);
    rejects(vb.v, "merge 0");
  }
}

TEST(Tokenizer, EncodeWithoutBosInTheVocabularyThrowsOnlyWhenAsked) {
  VocabBuilder vb;
  vb.v.bos_id = -1;
  vb.add(kSpace, 0).add("a", 0);
  const Tokenizer t(vb.v);
  EXPECT_THROW(t.encode("a", true), InvalidArgument);
  EXPECT_EQ(encode_pieces(t, "a"), (Pieces{kSpace, "a"}));
}

TEST(Tokenizer, RandomTextEncodesSafelyAndValidTextRoundTrips) {
  VocabBuilder vb;
  vb.add(kSpace, -1).add("a", -2).add("b", -3).add(kSpace + "a", -1).add("ab", -2);
  vb.add("ab" + kSpace, -0.5f, TokenType::unused).add("ab" + kSpace + "a", -0.7f);
  vb.add("<tag>", 0, TokenType::user_defined).add("\xC3\xA9", -4);
  const Tokenizer t(vb.v);
  // Fragments: pieces, spaces, characters with and without pieces, and invalid UTF-8.
  const std::vector<std::string> valid = {
      "a",     "b",  "ab", " ", "  ", "\t", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80",
      "<tag>", "<ta"};
  const std::vector<std::string> invalid = {"\x80", "\xFF", "\xE3\x81", "\xC0\xAF", "\xED\xB0\x80"};
  std::mt19937 rng(99);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    bool is_valid = true;
    for (unsigned n = rng() % 24; n > 0; --n) {
      if (rng() % 8 == 0) {
        text += invalid[rng() % invalid.size()];
        is_valid = false;
      } else {
        text += valid[rng() % valid.size()];
      }
    }
    const std::vector<std::int32_t> ids = t.encode(text, false);
    for (const auto id : ids) ASSERT_LT(static_cast<std::size_t>(id), t.size());
    const std::string back = t.decode(ids);
    if (is_valid) {
      ASSERT_EQ(back, text);
    } else {
      ASSERT_TRUE(is_valid_utf8(back));
    }
  }
}

// ----------------------------------------------------------------------- one megabyte inputs

TEST(Tokenizer, OneMegabyteOfOneCharacter) {
  VocabBuilder vb(true, false);
  vb.add("a", -1).add("aa", -2).add("aaaa", -3);
  const Tokenizer t(vb.v);
  const std::string text(1 << 20, 'a');
  const std::vector<std::int32_t> ids = t.encode(text, false);
  // Every "aa" forms first (leftmost first), then every pair of them: 2^18 "aaaa".
  ASSERT_EQ(ids.size(), std::size_t{1} << 18);
  EXPECT_TRUE(
      std::all_of(ids.begin(), ids.end(), [&](std::int32_t id) { return t.piece(id) == "aaaa"; }));
  EXPECT_EQ(t.decode(ids), text);
}

// ------------------------------------------------------------- the real tokenizers (shared/)

std::unique_ptr<Tokenizer> llama2() {
  const std::string path = kShared + "/mobilellm/tokenizer/llama2-sp.model";
  if (!file_exists(path)) return nullptr;
  const auto file = MappedFile::open(path);
  return std::make_unique<Tokenizer>(read_sentencepiece_model(file->bytes(), path));
}

TEST(TokenizerLlama2, EncodeMatchesSentencePiece) {
  const auto t = llama2();
  if (!t) GTEST_SKIP() << "shared/ reference data not available";
  // ids from the sentencepiece 0.1.97 Python library with the same tokenizer.model.
  const std::vector<std::pair<std::string, std::vector<std::int32_t>>> cases = {
      {"Hello world", {15043, 3186}},
      {"", {}},
      {" ", {259}},
      {"  a  ", {259, 263, 259}},
      {"<s>hi</s>", {529, 29879, 29958, 2918, 829, 29879, 29958}},
      {"\t\tx\n", {29871, 12, 12, 29916, 13}},
      {std::string("\0a", 2), {29871, 3, 29874}},
      {"\xC3\xA9\xF0\x9F\x98\x80\xF0\x9D\x94\x98", {904, 243, 162, 155, 131, 243, 160, 151, 155}},
      {"ab\xC2\xA0"
       "c",
       {633, 30081, 29883}},
  };
  for (const auto& [text, want] : cases) EXPECT_EQ(t->encode(text, false), want) << text;
  EXPECT_EQ(t->encode("Hello world", true), (std::vector<std::int32_t>{1, 15043, 3186}));
}

TEST(TokenizerLlama2, DecodeMatchesSentencePiece) {
  const auto t = llama2();
  if (!t) GTEST_SKIP() << "shared/ reference data not available";
  // Texts from the sentencepiece 0.1.97 Python library's decode of the same ids.
  const std::string r = kReplacement;
  const std::vector<std::pair<std::vector<std::int32_t>, std::string>> cases = {
      {{1, 263}, "a"},
      {{0, 263}, " \xE2\x81\x87  a"},
      {{230, 132, 133}, "\xE3\x81\x82"},
      {{230, 1, 132, 133}, r + r + r},
      {{230, 0, 263}, r + " \xE2\x81\x87  a"},
      {{1, 35, 263}, "  a"},
      {{243, 162, 155, 131, 131}, "\xF0\x9F\x98\x80" + r},
      {{227, 131, 131}, r + r + r},
      {{29871}, ""},
      {{29871, 29871, 29871}, "  "},
      {{259, 263}, "  a"},
  };
  for (const auto& [ids, want] : cases) EXPECT_EQ(t->decode(ids), want);
}

TEST(TokenizerLlama2, OneMegabyteRoundTrips) {
  const auto t = llama2();
  if (!t) GTEST_SKIP() << "shared/ reference data not available";
  for (const std::string unit : {"a", " ", "\xE6\x97\xA5", "\xF0\x9F\x98\x80", "ab "}) {
    std::string text;
    while (text.size() < (1u << 20)) text += unit;
    EXPECT_EQ(t->decode(t->encode(text, false)), text) << unit;
  }
}

TEST(TokenizerTinyStories, EncodeMatchesHuggingFaceTokenizersJs) {
  const std::string dir = kShared + "/models/tinystories-656k";
  if (!file_exists(dir + "/tokenizer.json")) GTEST_SKIP() << "shared/ reference data not available";
  const std::string json = read_text_file(dir + "/tokenizer.json", 1 << 24);
  const std::string config = read_text_file(dir + "/tokenizer_config.json", 1 << 20);
  const Tokenizer t(read_hf_tokenizer(json, "tokenizer.json", &config, "tokenizer_config.json"));
  // ids from @huggingface/tokenizers 0.2.0 (JavaScript) with the same tokenizer.json.
  EXPECT_EQ(t.encode("Once upon a time, there was a little girl named Lily.", false),
            (std::vector<std::int32_t>{80, 147, 201, 282, 215, 286, 598, 629, 10}));
  EXPECT_EQ(t.encode("\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 x", false),  // "日本 😀 x"
            (std::vector<std::int32_t>{80, 0, 80, 0, 80, 76}));
  EXPECT_EQ(t.encode("  two  spaces  ", false),
            (std::vector<std::int32_t>{80, 80, 80, 1209, 80, 415, 53, 55, 368, 80}));
  EXPECT_EQ(t.encode("x", true), (std::vector<std::int32_t>{1, 80, 76}));
  const std::string story =
      "Once upon a time, there was a little girl named Lily. She had a toy car that she loved "
      "very much.";
  EXPECT_EQ(t.decode(t.encode(story, true)), story);
}

}  // namespace
}  // namespace mobilellm
