// read_sentencepiece_model: the real MobileLLM tokenizer.model checked against facts taken from
// the reference sentencepiece library, and hand-built protobuf bytes, valid and malformed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/file.hpp"
#include "convert/tokenizer_sources.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

// ------------------------------------------------------------------ protobuf encoding helpers

std::string varint(std::uint64_t v) {
  std::string out;
  do {
    std::uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v) byte |= 0x80;
    out += static_cast<char>(byte);
  } while (v);
  return out;
}
std::string key(std::uint32_t field, unsigned wire) {
  return varint((std::uint64_t{field} << 3) | wire);
}
// int32 and enum fields: negative values are sign-extended to 64 bits, as protobuf does.
std::string int_field(std::uint32_t field, std::int64_t v) {
  return key(field, 0) + varint(static_cast<std::uint64_t>(v));
}
std::string float_field(std::uint32_t field, float v) {
  char bytes[4];
  std::memcpy(bytes, &v, 4);
  return key(field, 5) + std::string(bytes, 4);
}
std::string bytes_field(std::uint32_t field, const std::string& payload) {
  return key(field, 2) + varint(payload.size()) + payload;
}

// A small valid BPE model; tests edit the parts and rebuild. Fields appended to a message
// override earlier ones (protobuf's last-one-wins), which is how tests change a setting.
struct ModelBuilder {
  struct Piece {
    std::string text;
    float score;
    int type;  // 0: leave the field out (NORMAL by default)
  };
  std::vector<Piece> pieces = {
      {"<unk>", 0.0f, 2},  {"<s>", 0.0f, 3},      {"</s>", 0.0f, 3}, {"<0x00>", 0.0f, 6},
      {"<0xFF>", 0.0f, 6}, {"\u2581a", -1.5f, 0}, {"b", -2.0f, 1},   {"\u00e9t\u00e9", -3.0f, 4},
  };
  std::string trainer = int_field(3, 2) + int_field(35, 1) + int_field(40, 0) + int_field(41, 1) +
                        int_field(42, 2) + int_field(43, -1);
  std::string normalizer = bytes_field(1, "identity") + int_field(3, 1) + int_field(4, 0);

  static std::string piece(const Piece& p) {
    std::string m = bytes_field(1, p.text) + float_field(2, p.score);
    if (p.type != 0) m += int_field(3, p.type);
    return bytes_field(1, m);
  }
  std::string build() const {
    std::string out;
    for (const Piece& p : pieces) out += piece(p);
    return out + bytes_field(2, trainer) + bytes_field(3, normalizer);
  }
};

Vocabulary parse(const std::string& bytes) {
  return read_sentencepiece_model(
      {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, "test.model");
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The FormatError parsing `bytes` throws; a test failure if it throws nothing or another type.
FormatError format_error(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const FormatError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a FormatError, got: " << e.what();
    return {"", "", ""};
  }
  ADD_FAILURE() << "expected a FormatError, nothing was thrown";
  return {"", "", ""};
}

// The message of the UnsupportedError parsing `bytes` throws.
std::string unsupported_error(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const UnsupportedError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an UnsupportedError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected an UnsupportedError, nothing was thrown";
  return {};
}

// FNV-1a over each piece's bytes followed by a NUL: a fingerprint of the whole piece list.
std::uint64_t fingerprint(const std::vector<std::string>& pieces) {
  std::uint64_t h = 0xcbf29ce484222325u;
  for (const std::string& p : pieces) {
    for (const char c : p + '\0') h = (h ^ static_cast<std::uint8_t>(c)) * 0x100000001b3u;
  }
  return h;
}

// ---------------------------------------------------------------------- the real tokenizer

// Facts below were established with Debian's python3-sentencepiece 0.1.97 (id_to_piece,
// get_score, is_unknown/is_control/is_byte/is_unused, bos_id...), not with this code.
TEST(SentencePieceModel, ReadsTheMobileLLMTokenizer) {
  const std::string path = MOBILELLM_SHARED_DIR "/mobilellm/tokenizer/llama2-sp.model";
  if (!file_exists(path)) GTEST_SKIP() << path << " is absent (../shared is not checked out)";
  const auto file = MappedFile::open(path);
  const Vocabulary v = read_sentencepiece_model(file->bytes(), path);

  ASSERT_EQ(v.size(), 32000u);
  ASSERT_EQ(v.scores.size(), 32000u);
  ASSERT_EQ(v.types.size(), 32000u);
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_TRUE(v.merges.empty());
  // Python: FNV-1a as in fingerprint() over [sp.id_to_piece(i) for i in range(32000)].
  EXPECT_EQ(fingerprint(v.pieces), 0xd0ffd146db872a00u);

  struct Sample {
    std::int32_t id;
    const char* piece;
    float score;
    TokenType type;
  };
  const Sample samples[] = {
      {0, "<unk>", 0.0f, TokenType::unknown},
      {1, "<s>", 0.0f, TokenType::control},
      {2, "</s>", 0.0f, TokenType::control},
      {3, "<0x00>", 0.0f, TokenType::byte},
      {4, "<0x01>", 0.0f, TokenType::byte},
      {5, "<0x02>", 0.0f, TokenType::byte},
      {12, "<0x09>", 0.0f, TokenType::byte},
      {13, "<0x0A>", 0.0f, TokenType::byte},
      {35, "<0x20>", 0.0f, TokenType::byte},
      {130, "<0x7F>", 0.0f, TokenType::byte},
      {131, "<0x80>", 0.0f, TokenType::byte},
      {258, "<0xFF>", 0.0f, TokenType::byte},
      {259, "▁▁", -1000000000.0f, TokenType::normal},
      {260, "▁t", -1.0f, TokenType::normal},
      {261, "er", -2.0f, TokenType::normal},
      {262, "in", -3.0f, TokenType::normal},
      {263, "▁a", -4.0f, TokenType::normal},
      {300, "et", -41.0f, TokenType::normal},
      {500, "▁}", -241.0f, TokenType::normal},
      {1000, "ied", -741.0f, TokenType::normal},
      {1576, "The", -1317.0f, TokenType::normal},
      {2000, "▁called", -1741.0f, TokenType::normal},
      {3000, "anguage", -2741.0f, TokenType::normal},
      {4000, "ühr", -3741.0f, TokenType::normal},
      {5000, "ème", -4741.0f, TokenType::normal},
      {6000, "▁Ba", -5741.0f, TokenType::normal},
      {7000, "kow", -6741.0f, TokenType::normal},
      {8000, "while", -7741.0f, TokenType::normal},
      {9000, "▁Archive", -8741.0f, TokenType::normal},
      {10000, "ång", -9741.0f, TokenType::normal},
      {12345, "▁Eq", -12086.0f, TokenType::normal},
      {15000, "▁featured", -14741.0f, TokenType::normal},
      {16000, "▁deleg", -15741.0f, TokenType::normal},
      {17000, "riften", -16741.0f, TokenType::normal},
      {18000, "дия", -17741.0f, TokenType::normal},
      {20000, "▁admit", -19741.0f, TokenType::normal},
      {22222, "▁demonstrate", -21963.0f, TokenType::normal},
      {24000, "▁engines", -23741.0f, TokenType::normal},
      {26000, "▁Render", -25741.0f, TokenType::normal},
      {28000, "unted", -27741.0f, TokenType::normal},
      {29871, "▁", -1000000000.0f, TokenType::normal},
      {30000, "è", -29741.0f, TokenType::normal},
      {31000, "동", -30741.0f, TokenType::normal},
      {31500, "\u0302", -31241.0f, TokenType::normal},  // a lone combining circumflex
      {31900, "书", -31641.0f, TokenType::normal},
      {31990, "ὀ", -31731.0f, TokenType::normal},
      {31995, "黃", -31736.0f, TokenType::normal},
      {31996, "왕", -31737.0f, TokenType::normal},
      {31997, "收", -31738.0f, TokenType::normal},
      {31998, "弘", -31739.0f, TokenType::normal},
      {31999, "给", -31740.0f, TokenType::normal},
  };
  for (const Sample& s : samples) {
    SCOPED_TRACE(s.id);
    EXPECT_EQ(v.pieces[s.id], s.piece);
    EXPECT_EQ(v.scores[s.id], s.score);
    EXPECT_EQ(v.types[s.id], s.type);
  }

  // Every byte b is the piece <0xBB> at id 3 + b, type BYTE, score 0.
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    EXPECT_EQ(v.pieces[3 + b], name);
    EXPECT_EQ(v.types[3 + b], TokenType::byte);
    EXPECT_EQ(v.scores[3 + b], 0.0f);
  }
  // From 259 on every piece is NORMAL and scores 259 - id, except 16 whitespace-run pieces
  // that score -1e9.
  const std::vector<std::int32_t> whitespace_runs = {
      259, 268, 308, 418, 462, 539, 632, 795, 965, 1669, 1678, 3986, 4706, 9651, 18884, 29871};
  for (std::int32_t id = 259; id < 32000; ++id) {
    const bool run =
        std::find(whitespace_runs.begin(), whitespace_runs.end(), id) != whitespace_runs.end();
    ASSERT_EQ(v.types[id], TokenType::normal) << id;
    ASSERT_EQ(v.scores[id], run ? -1e9f : static_cast<float>(259 - id)) << id;
  }
}

// --------------------------------------------------------------------- hand-built models

TEST(SentencePieceModel, ReadsAHandBuiltModel) {
  const Vocabulary v = parse(ModelBuilder().build());
  EXPECT_EQ(v.pieces, (std::vector<std::string>{"<unk>", "<s>", "</s>", "<0x00>", "<0xFF>",
                                                "\u2581a", "b", "\u00e9t\u00e9"}));
  EXPECT_EQ(v.scores, (std::vector<float>{0, 0, 0, 0, 0, -1.5f, -2.0f, -3.0f}));
  EXPECT_EQ(v.types,
            (std::vector<TokenType>{TokenType::unknown, TokenType::control, TokenType::control,
                                    TokenType::byte, TokenType::byte, TokenType::normal,
                                    TokenType::normal, TokenType::user_defined}));
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_TRUE(v.merges.empty());
}

TEST(SentencePieceModel, AppliesProtoDefaults) {
  ModelBuilder m;
  // Only what has no usable default: BPE, byte fallback, no whitespace collapsing.
  m.trainer = int_field(3, 2) + int_field(35, 1);
  m.normalizer = int_field(4, 0);
  // A piece with neither score nor type, after the specs (record order does not matter).
  const Vocabulary v = parse(m.build() + bytes_field(1, bytes_field(1, "d")));
  ASSERT_EQ(v.size(), 9u);
  EXPECT_EQ(v.pieces[8], "d");
  EXPECT_EQ(v.scores[8], 0.0f);
  EXPECT_EQ(v.types[8], TokenType::normal);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_TRUE(v.add_space_prefix);
}

TEST(SentencePieceModel, AddDummyPrefixFalseClearsTheSpacePrefix) {
  ModelBuilder m;
  m.normalizer += int_field(3, 0);
  EXPECT_FALSE(parse(m.build()).add_space_prefix);
}

TEST(SentencePieceModel, SpecialIdsMayBeAbsent) {
  ModelBuilder m;
  m.trainer += int_field(41, -1) + int_field(42, -1) + int_field(43, 7);
  const Vocabulary v = parse(m.build());
  EXPECT_EQ(v.bos_id, -1);
  EXPECT_EQ(v.eos_id, -1);
  EXPECT_EQ(v.pad_id, 7);
}

TEST(SentencePieceModel, SkipsUnknownFieldsOfEveryWireType) {
  const std::string unknown = int_field(900, 12345678901234ull) + key(901, 1) +
                              std::string(8, '\x7f') + bytes_field(902, std::string(300, 'x')) +
                              key(903, 5) + std::string(4, '\x01');
  ModelBuilder m;
  const Vocabulary plain = parse(m.build());
  std::string out = unknown;
  for (const auto& p : m.pieces) {
    std::string msg = unknown + bytes_field(1, p.text) + unknown + float_field(2, p.score);
    if (p.type) msg += int_field(3, p.type);
    out += bytes_field(1, msg + unknown);
  }
  out += bytes_field(2, unknown + m.trainer + unknown) + unknown;
  out += bytes_field(3, unknown + m.normalizer) + bytes_field(5, "denormalizer") + unknown;
  const Vocabulary v = parse(out);
  EXPECT_EQ(v.pieces, plain.pieces);
  EXPECT_EQ(v.scores, plain.scores);
  EXPECT_EQ(v.types, plain.types);
  EXPECT_EQ(v.bos_id, plain.bos_id);
  EXPECT_EQ(v.add_space_prefix, plain.add_space_prefix);
}

TEST(SentencePieceModel, RepeatedSubMessagesMerge) {
  ModelBuilder m;
  // The trainer spec in two records, the second overriding bos_id.
  const std::string split = bytes_field(2, int_field(3, 2) + int_field(41, 2)) +
                            bytes_field(2, int_field(35, 1) + int_field(41, 1) + int_field(42, 2));
  std::string out;
  for (const auto& p : m.pieces) out += ModelBuilder::piece(p);
  const Vocabulary v = parse(out + split + bytes_field(3, m.normalizer));
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
}

// ----------------------------------------------------------------------- malformed framing

TEST(SentencePieceModel, EveryTruncationIsAFormatError) {
  const std::string full = ModelBuilder().build();
  for (std::size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    format_error(full.substr(0, n));
  }
}

TEST(SentencePieceModel, RejectsOverlongAndOverflowingVarints) {
  const std::string valid = ModelBuilder().build();
  // An 11-byte key: ten continuation bytes, then a terminator.
  const FormatError longer = format_error(valid + std::string(10, '\x80') + '\x01');
  EXPECT_EQ(longer.field(), "(key)");
  EXPECT_EQ(longer.offset(), valid.size());
  EXPECT_TRUE(contains(longer.detail(), "longer than 10 bytes")) << longer.what();
  // A 10-byte key whose last byte carries more than bit 63.
  const FormatError overflow = format_error(valid + std::string(9, '\xff') + '\x02');
  EXPECT_TRUE(contains(overflow.detail(), "overflows 64 bits")) << overflow.what();
  // The largest 10-byte varint is fine as a value (here an unknown field's).
  const Vocabulary v = parse(valid + key(900, 0) + std::string(9, '\xff') + '\x01');
  EXPECT_EQ(v.size(), 8u);
}

TEST(SentencePieceModel, RejectsGroupsAndUndefinedWireTypes) {
  const std::string valid = ModelBuilder().build();
  for (const unsigned wire : {3u, 4u, 6u, 7u}) {
    SCOPED_TRACE(wire);
    const FormatError e = format_error(valid + key(900, wire));
    EXPECT_EQ(e.field(), "(key)");
    EXPECT_TRUE(contains(e.detail(), "wire type " + std::to_string(wire))) << e.what();
  }
}

TEST(SentencePieceModel, RejectsFieldNumberZeroAndTooLarge) {
  const std::string valid = ModelBuilder().build();
  EXPECT_TRUE(contains(format_error(valid + key(0, 0) + '\x01').detail(), "field number 0"));
  const FormatError big = format_error(valid + varint(std::uint64_t{1} << 32) + '\x01');
  EXPECT_TRUE(contains(big.detail(), "field number 536870912")) << big.what();
}

TEST(SentencePieceModel, RejectsLengthsOverrunningTheEnclosingMessage) {
  const std::string valid = ModelBuilder().build();
  // At the top level: a piece record claiming 100 bytes with 3 left.
  const FormatError top = format_error(valid + key(1, 2) + varint(100) + "abc");
  EXPECT_EQ(top.field(), "pieces");
  EXPECT_EQ(top.offset(), valid.size());
  EXPECT_TRUE(contains(top.detail(), "length 100 overruns")) << top.what();
  // Inside a piece: the string claims more than its SentencePiece message holds, although the
  // file has bytes enough after it.
  const std::string inner = key(1, 2) + varint(50) + "xyz";
  const FormatError nested = format_error(bytes_field(1, inner) + valid);
  EXPECT_EQ(nested.field(), "pieces[0].piece");
  EXPECT_EQ(nested.offset(), 2u);  // after the outer key and length
  EXPECT_TRUE(contains(nested.detail(), "length 50 overruns")) << nested.what();
}

TEST(SentencePieceModel, RejectsKnownFieldsWithTheWrongWireType) {
  ModelBuilder m;
  const std::string bad_score = bytes_field(1, bytes_field(1, "x") + int_field(2, 5));
  EXPECT_EQ(format_error(m.build() + bad_score).field(), "pieces[8].score");
  m.trainer += float_field(41, 1.0f);
  const FormatError e = format_error(m.build());
  EXPECT_EQ(e.field(), "trainer_spec.bos_id");
  EXPECT_TRUE(contains(e.detail(), "wire type 5, expected 0")) << e.what();
  EXPECT_EQ(format_error(int_field(1, 3) + ModelBuilder().build()).field(), "pieces");
}

TEST(SentencePieceModel, RejectsOutOfRangeScalars) {
  ModelBuilder m;
  m.trainer += int_field(41, std::int64_t{1} << 40);
  const FormatError big = format_error(m.build());
  EXPECT_EQ(big.field(), "trainer_spec.bos_id");
  EXPECT_TRUE(contains(big.detail(), "1099511627776 does not fit in int32")) << big.what();

  ModelBuilder b;
  b.normalizer += int_field(3, 2);
  const FormatError flag = format_error(b.build());
  EXPECT_EQ(flag.field(), "normalizer_spec.add_dummy_prefix");
  EXPECT_TRUE(contains(flag.detail(), "2, not 0 or 1")) << flag.what();
}

TEST(SentencePieceModel, RefusesMoreThanTwoToThe22Pieces) {
  const std::string empty_piece = bytes_field(1, "");  // rejected, but only once decoded
  std::string many;
  many.reserve(empty_piece.size() * ((std::size_t{1} << 22) + 1));
  for (std::size_t i = 0; i <= (std::size_t{1} << 22); ++i) many += empty_piece;
  const FormatError e = format_error(many);
  EXPECT_EQ(e.field(), "pieces");
  EXPECT_TRUE(contains(e.detail(), "more than 4194304 pieces")) << e.what();
}

// ------------------------------------------------------------------------- invalid pieces

TEST(SentencePieceModel, RejectsInvalidPieces) {
  struct Case {
    std::string text;
    std::string detail;
  };
  const Case cases[] = {
      {"", "is empty or missing"},
      {"a\xff", "not valid UTF-8"},
      {"\xc0\xaf", "not valid UTF-8"},  // overlong '/'
      {std::string("a\0b", 3), "NUL"},
  };
  for (const Case& c : cases) {
    ModelBuilder m;
    m.pieces[6].text = c.text;
    const FormatError e = format_error(m.build());
    EXPECT_EQ(e.field(), "pieces[6].piece");
    EXPECT_TRUE(contains(e.detail(), c.detail)) << e.what();
  }
  // A piece message without the piece field.
  const FormatError missing = format_error(bytes_field(1, float_field(2, 1.0f)));
  EXPECT_EQ(missing.field(), "pieces[0].piece");
  EXPECT_EQ(missing.offset(), 2u);
}

TEST(SentencePieceModel, RejectsDuplicatePieces) {
  ModelBuilder m;
  m.pieces[7].text = "\u2581a";
  const FormatError e = format_error(m.build());
  EXPECT_EQ(e.field(), "pieces[7].piece");
  EXPECT_TRUE(contains(e.detail(), "duplicates pieces[5]")) << e.what();
}

TEST(SentencePieceModel, RejectsUnknownPieceTypes) {
  for (const int type : {-1, 7, 100}) {
    ModelBuilder m;
    m.pieces[6].type = type;
    const FormatError e = format_error(m.build());
    EXPECT_EQ(e.field(), "pieces[6].type");
    EXPECT_TRUE(contains(e.detail(), "is " + std::to_string(type))) << e.what();
  }
  // 0 cannot come from ModelBuilder (it means "omit"), so write it by hand.
  const FormatError zero = format_error(bytes_field(1, bytes_field(1, "x") + int_field(3, 0)));
  EXPECT_EQ(zero.field(), "pieces[0].type");
}

TEST(SentencePieceModel, RejectsNonFiniteScores) {
  for (const float score :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    ModelBuilder m;
    m.pieces[5].score = score;
    EXPECT_EQ(format_error(m.build()).field(), "pieces[5].score");
  }
}

TEST(SentencePieceModel, RejectsMisspelledBytePieces) {
  for (const char* text : {"<0x0g>", "<0x0a>", "<0x100>", "<0x1>", "0x41"}) {
    SCOPED_TRACE(text);
    ModelBuilder m;
    m.pieces[4].text = text;
    const FormatError e = format_error(m.build());
    EXPECT_EQ(e.field(), "pieces[4].piece");
    EXPECT_TRUE(contains(e.detail(), "type BYTE")) << e.what();
  }
  // The same spelling is fine for a NORMAL piece.
  ModelBuilder m;
  m.pieces[6].text = "<0x0a>";
  EXPECT_EQ(parse(m.build()).types[6], TokenType::normal);
}

// -------------------------------------------------------------------------- special ids

TEST(SentencePieceModel, RequiresExactlyOneUnknownPieceAtUnkId) {
  ModelBuilder none;
  none.pieces[0].type = 3;
  EXPECT_TRUE(contains(format_error(none.build()).detail(), "no piece has type UNKNOWN"));

  ModelBuilder two;
  two.pieces[6].type = 2;
  const FormatError e = format_error(two.build());
  EXPECT_EQ(e.field(), "pieces[6].type");
  EXPECT_TRUE(contains(e.detail(), "so is pieces[0]")) << e.what();

  ModelBuilder moved;
  moved.trainer += int_field(40, 1);
  const FormatError m = format_error(moved.build());
  EXPECT_EQ(m.field(), "trainer_spec.unk_id");
  EXPECT_TRUE(contains(m.detail(), "is 1 but the UNKNOWN piece is pieces[0]")) << m.what();
}

TEST(SentencePieceModel, RejectsSpecialIdsOutsideTheVocabulary) {
  struct Case {
    std::uint32_t field;
    std::int64_t id;
    const char* name;
  };
  for (const Case& c : {Case{41, 8, "trainer_spec.bos_id"}, Case{42, -2, "trainer_spec.eos_id"},
                        Case{43, 1000, "trainer_spec.pad_id"}}) {
    ModelBuilder m;
    m.trainer += int_field(c.field, c.id);
    const FormatError e = format_error(m.build());
    EXPECT_EQ(e.field(), c.name);
    EXPECT_TRUE(contains(e.detail(), "is " + std::to_string(c.id) + ", outside the 8 pieces"))
        << e.what();
  }
}

TEST(SentencePieceModel, RequiresPiecesAndBothSpecs) {
  const ModelBuilder m;
  std::string pieces;
  for (const auto& p : m.pieces) pieces += ModelBuilder::piece(p);
  EXPECT_EQ(format_error("").field(), "pieces");
  EXPECT_EQ(format_error(bytes_field(2, m.trainer) + bytes_field(3, m.normalizer)).field(),
            "pieces");
  EXPECT_EQ(format_error(pieces + bytes_field(3, m.normalizer)).field(), "trainer_spec");
  EXPECT_EQ(format_error(pieces + bytes_field(2, m.trainer)).field(), "normalizer_spec");
}

// --------------------------------------------------------------------- unsupported features

TEST(SentencePieceModel, RejectsModelTypesOtherThanBpe) {
  struct Case {
    std::int64_t type;
    const char* name;
  };
  for (const Case& c : {Case{1, "UNIGRAM (1)"}, Case{3, "WORD (3)"}, Case{4, "CHAR (4)"},
                        Case{9, "unknown model type (9)"}}) {
    ModelBuilder m;
    m.trainer += int_field(3, c.type);
    const std::string what = unsupported_error(m.build());
    EXPECT_TRUE(contains(what, "trainer_spec.model_type")) << what;
    EXPECT_TRUE(contains(what, c.name)) << what;
  }
  // Without model_type, the proto default (UNIGRAM) applies.
  ModelBuilder m;
  m.trainer = int_field(35, 1);
  EXPECT_TRUE(contains(unsupported_error(m.build()), "UNIGRAM"));
}

TEST(SentencePieceModel, RejectsUnsupportedNormalization) {
  struct Case {
    std::string trainer, normalizer;
    const char* field;
  };
  const Case cases[] = {
      {int_field(35, 0), "", "trainer_spec.byte_fallback"},
      {int_field(24, 1), "", "trainer_spec.treat_whitespace_as_suffix"},
      {"", bytes_field(2, "\x01\x02\x03"), "normalizer_spec.precompiled_charsmap"},
      {"", int_field(4, 1), "normalizer_spec.remove_extra_whitespaces"},
      {"", int_field(5, 0), "normalizer_spec.escape_whitespaces"},
  };
  for (const Case& c : cases) {
    ModelBuilder m;
    m.trainer += c.trainer;
    m.normalizer += c.normalizer;
    const std::string what = unsupported_error(m.build());
    EXPECT_TRUE(contains(what, std::string("test.model: ") + c.field)) << what;
  }
  // byte_fallback defaults to false.
  ModelBuilder m;
  m.trainer = int_field(3, 2);
  EXPECT_TRUE(contains(unsupported_error(m.build()), "trainer_spec.byte_fallback"));
  // remove_extra_whitespaces defaults to true.
  ModelBuilder n;
  n.normalizer = bytes_field(1, "identity");
  EXPECT_TRUE(contains(unsupported_error(n.build()), "remove_extra_whitespaces"));
}

// ------------------------------------------------------------------------------ robustness

// Random single-byte corruptions of a valid model either parse or throw mobilellm::Error; the
// point is that nothing else happens (run under ASan/UBSan to check memory safety too).
TEST(SentencePieceModel, CorruptedBytesNeverEscapeAsOtherFailures) {
  const std::string valid = ModelBuilder().build();
  std::mt19937 rng(20240601);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = valid;
    const int edits = 1 + trial % 3;
    for (int e = 0; e < edits; ++e) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
    try {
      parse(bytes);
    } catch (const Error&) {
    } catch (const std::exception& e) {
      FAIL() << "trial " << trial << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace mobilellm
