// The restricted unpickler and the torch.save archive reader: state dicts as torch.save writes
// them read back exactly; code-execution payloads, foreign opcodes, broken stack/memo use and
// inconsistent tensors or storages rejected by name.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "checkpoint_bytes.hpp"
#include "convert/torch_checkpoint.hpp"

namespace mobilellm {
namespace {

using namespace checkpoint_bytes;

using Storages = std::vector<std::pair<std::string, Bytes>>;

// A state dict with every supported dtype, views sharing a storage, a 0-d tensor, and a
// dimension of size 1 (whose stride torch leaves free).
struct Sample {
  std::vector<PickleTensor> tensors = {
      {.name = "a.weight", .key = "0", .storage_numel = 24, .shape = {4, 6}},
      {.name = "b.half",
       .storage_class = "HalfStorage",
       .key = "1",
       .storage_numel = 15,
       .shape = {3, 5}},
      {.name = "c.bf16",
       .storage_class = "BFloat16Storage",
       .key = "2",
       .storage_numel = 7,
       .shape = {7}},
      {.name = "view.rows", .key = "0", .storage_numel = 24, .storage_offset = 12, .shape = {2, 6}},
      {.name = "view.row",
       .key = "0",
       .storage_numel = 24,
       .storage_offset = 6,
       .shape = {1, 6},
       .stride = {99, 1}},
      {.name = "scalar", .key = "3", .storage_numel = 1, .shape = {}},
  };
  Storages storages = {
      {"0", pattern(96, 1)}, {"1", pattern(30, 2)}, {"2", pattern(14, 3)}, {"3", pattern(4, 4)}};
};

std::size_t element_size(const std::string& storage_class) {
  return storage_class == "FloatStorage" ? 4 : 2;
}

SourceDType dtype_of(const std::string& storage_class) {
  return storage_class == "FloatStorage"  ? SourceDType::f32
         : storage_class == "HalfStorage" ? SourceDType::f16
                                          : SourceDType::bf16;
}

std::vector<PickledTensor> parse(const Bytes& pickle) {
  return parse_state_dict_pickle(pickle, "pytorch_model.bin");
}

std::vector<SourceTensor> read_archive(const Bytes& bytes) {
  return read_torch_checkpoint(map_bytes(bytes, "pytorch_model.bin"));
}

Bytes archive(const Sample& s, const TorchArchiveOptions& options = {}) {
  return build_torch_archive(build_state_dict_pickle(s.tensors).bytes, s.storages, options).bytes;
}

Bytes replace_all(Bytes b, std::string_view from, std::string_view to) {
  Bytes out;
  for (std::size_t i = 0; i < b.size();) {
    if (b.size() - i >= from.size() &&
        std::equal(from.begin(), from.end(), b.begin() + static_cast<std::ptrdiff_t>(i))) {
      append(out, to);
      i += from.size();
    } else {
      out.push_back(b[i++]);
    }
  }
  return out;
}

void expect_parsed(const std::vector<PickledTensor>& got, const std::vector<PickleTensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].storage_key, want[i].key);
    EXPECT_EQ(got[i].dtype, dtype_of(want[i].storage_class));
    EXPECT_EQ(got[i].storage_offset, want[i].storage_offset);
    EXPECT_EQ(got[i].storage_numel, want[i].storage_numel);
    EXPECT_EQ(got[i].shape, want[i].shape);
    EXPECT_EQ(got[i].stride,
              want[i].stride.empty() ? contiguous_stride(want[i].shape) : want[i].stride);
  }
}

// ------------------------------------------------------------------ crafted pickles

using Writes = std::function<void(PickleWriter&)>;

// PROTO 2, then a plain dict {'w': <what `value` writes>}, STOP.
Bytes one_entry(const Writes& value) {
  PickleWriter w;
  w.proto().op(op::EMPTY_DICT).memoize().unicode("w").memoize();
  value(w);
  w.op(op::SETITEM).op(op::STOP);
  return w.bytes();
}

void persistent_id(PickleWriter& w, std::string_view storage_class = "FloatStorage") {
  w.op(op::MARK).unicode("storage").global("torch", storage_class).unicode("0").unicode("cpu");
  w.integer(4).op(op::TUPLE).op(op::BINPERSID);
}

void int_tuple(PickleWriter& w, std::initializer_list<std::int64_t> v) {
  w.op(op::MARK);
  for (std::int64_t x : v) w.integer(x);
  w.op(op::TUPLE);
}

void no_hooks(PickleWriter& w) {
  w.global("collections", "OrderedDict").op(op::EMPTY_TUPLE).op(op::REDUCE);
}

// _rebuild_tensor_v2(<args>), the arguments written by `args` between MARK and TUPLE.
Writes rebuild(const Writes& args) {
  return [args](PickleWriter& w) {
    w.global("torch._utils", "_rebuild_tensor_v2").op(op::MARK);
    args(w);
    w.op(op::TUPLE).op(op::REDUCE);
  };
}

// The six arguments of a 1-D float tensor of 4 elements, with one of them replaceable.
Writes args(int replace = -1, const Writes& replacement = {}) {
  return [=](PickleWriter& w) {
    const Writes parts[] = {
        [](PickleWriter& p) { persistent_id(p); },  [](PickleWriter& p) { p.integer(0); },
        [](PickleWriter& p) { int_tuple(p, {4}); }, [](PickleWriter& p) { int_tuple(p, {1}); },
        [](PickleWriter& p) { p.boolean(false); },  no_hooks};
    for (int i = 0; i < 6; ++i) (i == replace ? replacement : parts[i])(w);
  };
}

TEST(TorchPickle, CraftedBaselineIsValid) {
  // The crafted pickles below each break one thing of this one.
  const auto got = parse(one_entry(rebuild(args())));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name, "w");
  EXPECT_EQ(got[0].shape, (std::vector<std::uint64_t>{4}));
  EXPECT_EQ(got[0].storage_numel, 4u);
}

// -------------------------------------------------------------- what torch.save writes

struct DictForm {
  const char* name;
  StateDictOptions options;
  bool parameters;
};

class TorchPickleForms : public ::testing::TestWithParam<DictForm> {};

TEST_P(TorchPickleForms, ParsesEveryField) {
  Sample s;
  for (auto& t : s.tensors) t.parameter = GetParam().parameters;
  const StateDictPickle p = build_state_dict_pickle(s.tensors, GetParam().options);
  expect_parsed(parse(p.bytes), s.tensors);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, TorchPickleForms,
    ::testing::Values(DictForm{"state_dict", {}, false},
                      DictForm{"state_dict_without_metadata", {.metadata = false}, false},
                      DictForm{"plain_dict", {.ordered = false}, false},
                      DictForm{"keep_vars_parameters", {}, true},
                      DictForm{"cuda_location", {.location = "cuda:0"}, false}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(TorchPickle, ParsesLargeIntegersAndLongMemoIndices) {
  // 1500 tensors: two SETITEMS batches (1000 + 500) and memo indices past 255 (LONG_BINPUT /
  // LONG_BINGET); sizes needing BININT2, BININT and LONG1.
  std::vector<PickleTensor> tensors;
  for (int i = 0; i < 1500; ++i) {
    tensors.push_back({.name = "layers." + std::to_string(i) + ".weight",
                       .key = std::to_string(i % 7),
                       .storage_numel = 3'000'000'000ull + static_cast<std::uint64_t>(i % 7),
                       .storage_offset = 70'000,
                       .shape = {65'535, 256, static_cast<std::uint64_t>(i % 3)}});
  }
  expect_parsed(parse(build_state_dict_pickle(tensors).bytes), tensors);
}

TEST(TorchPickle, ParsesASingleEntryDict) {
  // One item: a bare SETITEM, no MARK.
  const std::vector<PickleTensor> one = {
      {.name = "w", .key = "0", .storage_numel = 2, .shape = {2}}};
  expect_parsed(parse(build_state_dict_pickle(one).bytes), one);
  expect_parsed(parse(build_state_dict_pickle(one, {.ordered = false}).bytes), one);
  expect_parsed(parse(build_state_dict_pickle({}).bytes), {});
}

// ---------------------------------------------------------------- code execution

struct Global {
  const char* module;
  const char* name;
};

class MaliciousGlobals : public ::testing::TestWithParam<Global> {};

TEST_P(MaliciousGlobals, AreRejectedByName) {
  // The classic payload: GLOBAL callable, argument tuple, REDUCE.
  PickleWriter w;
  w.proto().global(GetParam().module, GetParam().name).unicode("touch /tmp/pwned");
  w.op(op::TUPLE1).op(op::REDUCE).op(op::STOP);
  const std::string full = std::string(GetParam().module) + "." + GetParam().name;
  EXPECT_TRUE(rejects([&] { parse(w.bytes()); },
                      {"data.pkl", "global '" + full + "' is not allowed", "(at offset 2)"}));
}

INSTANTIATE_TEST_SUITE_P(
    Payloads, MaliciousGlobals,
    ::testing::Values(Global{"os", "system"}, Global{"posix", "system"}, Global{"nt", "system"},
                      Global{"builtins", "eval"}, Global{"builtins", "exec"},
                      Global{"builtins", "getattr"}, Global{"builtins", "__import__"},
                      Global{"__builtin__", "eval"}, Global{"subprocess", "Popen"},
                      Global{"subprocess", "check_output"}, Global{"torch", "load"},
                      Global{"torch._utils", "_rebuild_tensor"},
                      Global{"torch._utils", "_rebuild_parameter_with_state"},
                      Global{"collections", "ordereddict"}, Global{"collections ", "OrderedDict"},
                      Global{"", ""}),
    [](const auto& param_info) {
      std::string n = std::string(param_info.param.module) + "_" + param_info.param.name;
      for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return n + "_" + std::to_string(param_info.index);
    });

TEST(TorchPickle, RejectsAForbiddenGlobalInsideAValidStateDict) {
  const Bytes valid = build_state_dict_pickle(Sample().tensors).bytes;
  EXPECT_TRUE(rejects([&] { parse(replace_all(valid, "collections\nOrderedDict", "os\nsystem")); },
                      {"global 'os.system' is not allowed"}));
  EXPECT_TRUE(rejects(
      [&] { parse(replace_all(valid, "torch._utils\n_rebuild_tensor_v2", "builtins\neval")); },
      {"global 'builtins.eval' is not allowed"}));
}

TEST(TorchPickle, RejectsUnsupportedStoragesByName) {
  for (const char* storage : {"DoubleStorage", "LongStorage", "IntStorage", "ByteStorage",
                              "BoolStorage", "ComplexFloatStorage", "QInt8Storage"}) {
    std::vector<PickleTensor> t = {
        {.name = "w", .storage_class = storage, .key = "0", .storage_numel = 1, .shape = {1}}};
    EXPECT_TRUE(rejects([&] { parse(build_state_dict_pickle(t).bytes); },
                        {"tensor storage torch." + std::string(storage) + " is not supported"}));
  }
}

// --------------------------------------------------------------------- opcodes

struct Opcode {
  const char* name;
  std::uint8_t code;
};

class ForeignOpcodes : public ::testing::TestWithParam<Opcode> {};

TEST_P(ForeignOpcodes, AreRejectedNamingOpcodeAndOffset) {
  // Each follows a valid prefix that leaves two strings on the stack (what STACK_GLOBAL takes).
  PickleWriter w;
  w.proto().unicode("os").unicode("system").op(GetParam().code).raw("\n\n\n\n\n\n\n\n");
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", GetParam().code);
  EXPECT_TRUE(rejects([&] { parse(w.bytes()); },
                      {"opcode " + std::string(GetParam().name) + " (" + hex + ") is not allowed",
                       "(at offset 20)"}));
}

INSTANTIATE_TEST_SUITE_P(
    Protocols0To5, ForeignOpcodes,
    ::testing::Values(
        Opcode{"STACK_GLOBAL", op::STACK_GLOBAL}, Opcode{"INST", op::INST}, Opcode{"OBJ", op::OBJ},
        Opcode{"NEWOBJ", op::NEWOBJ}, Opcode{"NEWOBJ_EX", op::NEWOBJ_EX}, Opcode{"EXT1", op::EXT1},
        Opcode{"EXT2", op::EXT2}, Opcode{"EXT4", op::EXT4}, Opcode{"PERSID", op::PERSID},
        Opcode{"SHORT_BINUNICODE", op::SHORT_BINUNICODE}, Opcode{"BINUNICODE8", op::BINUNICODE8},
        Opcode{"BINBYTES8", op::BINBYTES8}, Opcode{"FRAME", op::FRAME},
        Opcode{"MEMOIZE", op::MEMOIZE}, Opcode{"EMPTY_LIST", op::EMPTY_LIST},
        Opcode{"LIST", op::LIST}, Opcode{"APPEND", op::APPEND}, Opcode{"APPENDS", op::APPENDS},
        Opcode{"DICT", op::DICT}, Opcode{"POP", op::POP}, Opcode{"DUP", op::DUP},
        Opcode{"GET", op::GET}, Opcode{"PUT", op::PUT}, Opcode{"INT", op::INT},
        Opcode{"LONG", op::LONG}, Opcode{"LONG4", op::LONG4}, Opcode{"FLOAT", op::FLOAT},
        Opcode{"BINFLOAT", op::BINFLOAT}, Opcode{"STRING", op::STRING},
        Opcode{"BINSTRING", op::BINSTRING}, Opcode{"SHORT_BINSTRING", op::SHORT_BINSTRING},
        Opcode{"UNICODE", op::UNICODE}, Opcode{"EMPTY_SET", op::EMPTY_SET},
        Opcode{"ADDITEMS", op::ADDITEMS}, Opcode{"FROZENSET", op::FROZENSET}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(TorchPickle, RejectsUnknownOpcodes) {
  for (const std::uint8_t code : {0x00, 0x99, 0xff, 0x41}) {
    PickleWriter w;
    w.proto().op(code);
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", code);
    EXPECT_TRUE(rejects([&] { parse(w.bytes()); },
                        {std::string("unknown opcode ") + hex, "(at offset 2)"}));
  }
}

TEST(TorchPickle, AcceptsOnlyProtocol2AtTheStart) {
  for (const std::uint8_t version : {0, 1, 3, 4, 5}) {
    PickleWriter w;
    w.proto(version).op(op::EMPTY_DICT).op(op::STOP);
    EXPECT_TRUE(rejects([&] { parse(w.bytes()); },
                        {"pickle protocol " + std::to_string(version) + " is not supported"}));
  }
  PickleWriter none;
  none.op(op::EMPTY_DICT).op(op::STOP);
  EXPECT_TRUE(rejects([&] { parse(none.bytes()); }, {"does not start with PROTO"}));
  PickleWriter twice;
  twice.proto().proto().op(op::EMPTY_DICT).op(op::STOP);
  EXPECT_TRUE(
      rejects([&] { parse(twice.bytes()); }, {"PROTO may only appear at the start", "offset 2"}));
  EXPECT_TRUE(rejects([&] { parse({}); }, {"ends without STOP"}));
}

// ------------------------------------------------------------------ stack and memo

Bytes ops(std::initializer_list<std::uint8_t> codes) {
  PickleWriter w;
  w.proto();
  for (std::uint8_t c : codes) w.op(c);
  return w.bytes();
}

TEST(TorchPickle, RejectsMemoMisuse) {
  PickleWriter get;
  get.proto().get(5);
  EXPECT_TRUE(rejects([&] { parse(get.bytes()); },
                      {"memo index 5 is out of range: the memo holds 0 entries"}));
  PickleWriter long_get;
  long_get.proto().op(op::EMPTY_DICT).memoize().op(op::LONG_BINGET).le(0xffffffff, 4);
  EXPECT_TRUE(rejects([&] { parse(long_get.bytes()); },
                      {"memo index 4294967295 is out of range: the memo holds 1"}));
  PickleWriter skip;
  skip.proto().op(op::EMPTY_DICT).put(3);
  EXPECT_TRUE(rejects([&] { parse(skip.bytes()); }, {"memo index 3 is out of sequence"}));
  PickleWriter long_skip;
  long_skip.proto().op(op::EMPTY_DICT).op(op::LONG_BINPUT).le(0xffffffff, 4);
  EXPECT_TRUE(
      rejects([&] { parse(long_skip.bytes()); }, {"memo index 4294967295 is out of sequence"}));
  PickleWriter empty;
  empty.proto().put(0);
  EXPECT_TRUE(rejects([&] { parse(empty.bytes()); }, {"stack underflow: BINPUT"}));
}

TEST(TorchPickle, RejectsStackUnderflow) {
  EXPECT_TRUE(rejects([&] { parse(ops({op::REDUCE})); },
                      {"stack underflow: REDUCE needs a value", "offset 2"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::TUPLE2}));
      },
      {"stack underflow: TUPLE2"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::SETITEM}));
      },
      {"stack underflow: SETITEM"}));
  EXPECT_TRUE(rejects([&] { parse(ops({op::BINPERSID})); }, {"stack underflow: BINPERSID"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::BUILD}));
      },
      {"stack underflow: BUILD"}));
  // Values below a MARK are out of reach until the MARK is consumed.
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::MARK, op::TUPLE1}));
      },
      {"stack underflow: TUPLE1"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::NONE, op::NONE, op::MARK, op::SETITEM}));
      },
      {"stack underflow: SETITEM"}));
}

TEST(TorchPickle, RejectsMarkMisuse) {
  EXPECT_TRUE(rejects([&] { parse(ops({op::NONE, op::TUPLE})); }, {"TUPLE without a MARK"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::SETITEMS}));
      },
      {"SETITEMS without a MARK"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::MARK, op::STOP}));
      },
      {"STOP with 1 MARKs still open"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::MARK, op::NONE, op::SETITEMS}));
      },
      {"SETITEMS has an odd number of values (1)"}));
  PickleWriter deep;
  deep.proto();
  for (int i = 0; i < 65; ++i) deep.op(op::MARK);
  EXPECT_TRUE(rejects([&] { parse(deep.bytes()); }, {"more than 64 nested MARKs", "offset 66"}));
}

TEST(TorchPickle, BoundsTheStack) {
  PickleWriter w;
  w.proto();
  for (int i = 0; i < 70'000; ++i) w.op(op::NONE);
  EXPECT_TRUE(
      rejects([&] { parse(w.bytes()); }, {"the stack grows beyond 65536 values", "offset 65538"}));
}

// --------------------------------------------------------------------- operands

TEST(TorchPickle, RejectsBadStrings) {
  PickleWriter huge;
  huge.proto().op(op::BINUNICODE).le(0xfffffff0, 4).raw("abc");
  EXPECT_TRUE(rejects([&] { parse(huge.bytes()); },
                      {"BINUNICODE", "needs 4294967280 bytes but only 3 remain"}));
  PickleWriter invalid;
  invalid.proto().unicode("\xc0\xaf").op(op::STOP);
  EXPECT_TRUE(rejects([&] { parse(invalid.bytes()); }, {"is not valid UTF-8"}));
  PickleWriter unterminated;
  unterminated.proto().op(op::GLOBAL).raw("collections\nOrderedDict");
  EXPECT_TRUE(rejects([&] { parse(unterminated.bytes()); }, {"name", "truncated"}));
  PickleWriter long_line;
  long_line.proto().global(std::string(300, 'm'), "x");
  EXPECT_TRUE(
      rejects([&] { parse(long_line.bytes()); }, {"GLOBAL module is longer than 256 bytes"}));
}

TEST(TorchPickle, RejectsIntegersBeyond64Bits) {
  PickleWriter w;
  w.proto().op(op::LONG1).raw(9).raw(std::string(9, '\x01'));
  EXPECT_TRUE(
      rejects([&] { parse(w.bytes()); }, {"LONG1 integer of 9 bytes does not fit in 64 bits"}));
}

// ------------------------------------------------------------------------ STOP

TEST(TorchPickle, RejectsWhatSurroundsStop) {
  const Bytes valid = build_state_dict_pickle(Sample().tensors).bytes;
  Bytes trailing = valid;
  append(trailing, "junk");
  EXPECT_TRUE(rejects([&] { parse(trailing); }, {"4 bytes follow STOP"}));
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::EMPTY_DICT, op::EMPTY_DICT, op::STOP}));
      },
      {"STOP with 2 values on the stack"}));
  EXPECT_TRUE(rejects([&] { parse(ops({op::STOP})); }, {"STOP with 0 values on the stack"}));
}

TEST(TorchPickle, RejectsEveryTruncation) {
  const Bytes valid = build_state_dict_pickle(Sample().tensors).bytes;
  for (std::size_t size = 0; size < valid.size(); ++size) {
    const Bytes cut(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_TRUE(rejects([&] { parse(cut); }, {"pytorch_model.bin"})) << "cut to " << size;
  }
}

// --------------------------------------------------------------------- the result

TEST(TorchPickle, RequiresADictOfTensors) {
  EXPECT_TRUE(rejects(
      [&] {
        parse(ops({op::NONE, op::STOP}));
      },
      {"the pickled object is None, expected a dict"}));
  EXPECT_TRUE(rejects([&] { parse(one_entry([](PickleWriter& w) { w.integer(3); })); },
                      {"state-dict entry 'w' is an int, expected a tensor"}));
  PickleWriter int_key;
  int_key.proto().op(op::EMPTY_DICT).integer(1).op(op::NONE).op(op::SETITEM).op(op::STOP);
  EXPECT_TRUE(
      rejects([&] { parse(int_key.bytes()); }, {"a state-dict key is an int, expected a str"}));
}

TEST(TorchPickle, RejectsBadKeys) {
  const auto with_keys = [](std::string_view first, std::string_view second) {
    PickleWriter w;
    w.proto().op(op::EMPTY_DICT).op(op::MARK).unicode(first);
    rebuild(args())(w);
    w.unicode(second);
    rebuild(args())(w);
    w.op(op::SETITEMS).op(op::STOP);
    return w.bytes();
  };
  EXPECT_EQ(parse(with_keys("a", "b")).size(), 2u);
  EXPECT_TRUE(rejects([&] { parse(with_keys("a", "a")); }, {"state-dict key 'a' appears twice"}));
  EXPECT_TRUE(
      rejects([&] { parse(with_keys("a", "")); }, {"state-dict key '' is empty or contains NUL"}));
  EXPECT_TRUE(rejects([&] { parse(with_keys("a", std::string_view("b\0c", 3))); },
                      {"is empty or contains NUL"}));
}

TEST(TorchPickle, SurvivesASelfReferencingDict) {
  PickleWriter w;
  w.proto().op(op::EMPTY_DICT).memoize().unicode("w").get(0).op(op::SETITEM).op(op::STOP);
  EXPECT_TRUE(
      rejects([&] { parse(w.bytes()); }, {"state-dict entry 'w' is a dict, expected a tensor"}));
}

TEST(TorchPickle, RejectsBadTensorArguments) {
  struct Case {
    Writes value;
    const char* message;
  };
  const Writes extra = [](PickleWriter& w) {
    args()(w);
    w.op(op::NONE);
  };
  const Case cases[] = {
      {rebuild(extra), "_rebuild_tensor_v2 is given 7 arguments, expected 6"},
      {rebuild([](PickleWriter& w) { w.integer(0); }), "_rebuild_tensor_v2 is given 1 arguments"},
      {rebuild(args(0, [](PickleWriter& w) { w.integer(0); })),
       "the tensor's storage is an int, expected a storage"},
      {rebuild(args(1, [](PickleWriter& w) { w.integer(-1); })),
       "the storage offset is negative (-1)"},
      {rebuild(args(2, [](PickleWriter& w) { w.integer(4); })),
       "the size is an int, expected a tuple"},
      {rebuild(args(2,
                    [](PickleWriter& w) {
                      int_tuple(w, {1, 1, 1, 1, 1, 1, 1, 1, 4});
                    })),
       "the size has 9 dimensions, more than 8"},
      {rebuild(args(2, [](PickleWriter& w) { int_tuple(w, {-4}); })), "the size is negative (-4)"},
      {rebuild(args(3,
                    [](PickleWriter& w) {
                      int_tuple(w, {1, 1});
                    })),
       "the size has 1 dimensions but the stride 2"},
      {rebuild(args(3, [](PickleWriter& w) { w.unicode("1"); })),
       "the stride is a str, expected a tuple"},
      {rebuild(args(4, [](PickleWriter& w) { w.integer(0); })),
       "requires_grad is an int, expected a bool"},
      {rebuild(args(5, [](PickleWriter& w) { w.op(op::NONE); })),
       "backward_hooks is None, expected a dict"},
      {rebuild(args(5,
                    [](PickleWriter& w) {
                      no_hooks(w);
                      w.integer(1).op(op::NONE).op(op::SETITEM);
                    })),
       "backward_hooks is not empty"},
  };
  for (const Case& c : cases) EXPECT_TRUE(rejects([&] { parse(one_entry(c.value)); }, {c.message}));
}

TEST(TorchPickle, RejectsBadPersistentIds) {
  const auto pid = [](const Writes& items) {
    return rebuild(args(0, [items](PickleWriter& w) {
      w.op(op::MARK);
      items(w);
      w.op(op::TUPLE).op(op::BINPERSID);
    }));
  };
  struct Case {
    Writes value;
    const char* message;
  };
  const Case cases[] = {
      {rebuild(args(0, [](PickleWriter& w) { w.unicode("storage").op(op::BINPERSID); })),
       "the persistent id is a str, expected a tuple"},
      {pid([](PickleWriter& w) {
         w.unicode("storage").global("torch", "FloatStorage").unicode("0").unicode("cpu");
       }),
       "the persistent id has 4 items, expected 5"},
      {pid([](PickleWriter& w) {
         w.unicode("module").global("torch", "FloatStorage").unicode("0").unicode("cpu").integer(4);
       }),
       "the persistent id's tag is not 'storage'"},
      {pid([](PickleWriter& w) {
         w.unicode("storage")
             .global("collections", "OrderedDict")
             .unicode("0")
             .unicode("cpu")
             .integer(4);
       }),
       "the persistent id's class is collections.OrderedDict, expected a storage class"},
      {pid([](PickleWriter& w) {
         w.unicode("storage").global("torch", "FloatStorage").integer(0).unicode("cpu").integer(4);
       }),
       "the storage key is an int, expected a str"},
      {pid([](PickleWriter& w) {
         w.unicode("storage").global("torch", "FloatStorage").unicode("0").op(op::NONE).integer(4);
       }),
       "the storage location is None, expected a str"},
      {pid([](PickleWriter& w) {
         w.unicode("storage")
             .global("torch", "FloatStorage")
             .unicode("0")
             .unicode("cpu")
             .integer(-4);
       }),
       "the storage size is negative (-4)"},
  };
  for (const Case& c : cases) EXPECT_TRUE(rejects([&] { parse(one_entry(c.value)); }, {c.message}));
}

TEST(TorchPickle, RejectsMisusedCallables) {
  struct Case {
    Writes value;
    const char* message;
  };
  const Case cases[] = {
      {[](PickleWriter& w) {
         w.global("torch", "FloatStorage").op(op::EMPTY_TUPLE).op(op::REDUCE);
       },
       "the REDUCE callable is the storage class torch.FloatStorage, expected a callable"},
      {[](PickleWriter& w) { w.unicode("os.system").op(op::EMPTY_TUPLE).op(op::REDUCE); },
       "the REDUCE callable is a str, expected a callable"},
      {[](PickleWriter& w) {
         w.global("collections", "OrderedDict").op(op::EMPTY_DICT).op(op::REDUCE);
       },
       "the REDUCE arguments is a dict, expected a tuple"},
      {[](PickleWriter& w) {
         w.global("collections", "OrderedDict").op(op::NONE).op(op::TUPLE1).op(op::REDUCE);
       },
       "collections.OrderedDict is given 1 arguments, expected none"},
      {[](PickleWriter& w) {
         w.global("torch._utils", "_rebuild_parameter");
         rebuild(args())(w);
         w.boolean(true).op(op::TUPLE2).op(op::REDUCE);
       },
       "_rebuild_parameter is given 2 arguments, expected 3"},
      {[](PickleWriter& w) {
         w.global("torch._utils", "_rebuild_parameter").integer(0).boolean(true);
         no_hooks(w);
         w.op(op::TUPLE3).op(op::REDUCE);
       },
       "the parameter's data is an int, expected a tensor"},
  };
  for (const Case& c : cases) EXPECT_TRUE(rejects([&] { parse(one_entry(c.value)); }, {c.message}));
}

TEST(TorchPickle, AcceptsBuildOnlyAsStateDictMetadata) {
  PickleWriter plain;
  plain.proto().op(op::EMPTY_DICT).op(op::EMPTY_DICT).op(op::BUILD).op(op::STOP);
  EXPECT_TRUE(rejects([&] { parse(plain.bytes()); }, {"BUILD on a plain dict"}));
  PickleWriter state;
  state.proto();
  no_hooks(state);
  state.op(op::NONE).op(op::BUILD).op(op::STOP);
  EXPECT_TRUE(rejects([&] { parse(state.bytes()); }, {"the BUILD state is None, expected a dict"}));
  PickleWriter target;
  target.proto().op(op::EMPTY_DICT);
  rebuild(args())(target);
  target.op(op::EMPTY_DICT).op(op::BUILD);
  EXPECT_TRUE(
      rejects([&] { parse(target.bytes()); }, {"the BUILD target is a tensor, expected a dict"}));
}

TEST(TorchPickle, RejectsSetItemOnSomethingElse) {
  PickleWriter w;
  w.proto().op(op::EMPTY_TUPLE).unicode("k").op(op::NONE).op(op::SETITEM).op(op::STOP);
  EXPECT_TRUE(rejects([&] { parse(w.bytes()); }, {"SETITEM applies to a tuple, not a dict"}));
}

// ---------------------------------------------------------------------- archives

struct ArchiveForm {
  const char* name;
  TorchArchiveOptions options;
};

class TorchArchiveForms : public ::testing::TestWithParam<ArchiveForm> {};

TEST_P(TorchArchiveForms, ReadsEveryTensorsExactBytes) {
  const Sample s;
  const auto file = map_bytes(archive(s, GetParam().options), "pytorch_model.bin");
  const auto got = read_torch_checkpoint(file);
  ASSERT_EQ(got.size(), s.tensors.size());
  for (std::size_t i = 0; i < s.tensors.size(); ++i) {
    const PickleTensor& want = s.tensors[i];
    SCOPED_TRACE(want.name);
    const Bytes& storage = std::find_if(s.storages.begin(), s.storages.end(), [&](const auto& st) {
                             return st.first == want.key;
                           })->second;
    const std::size_t esize = element_size(want.storage_class);
    std::size_t numel = 1;
    for (std::uint64_t d : want.shape) numel *= d;
    const Bytes expected(
        storage.begin() + static_cast<std::ptrdiff_t>(want.storage_offset * esize),
        storage.begin() + static_cast<std::ptrdiff_t>((want.storage_offset + numel) * esize));
    EXPECT_EQ(got[i].name, want.name);
    EXPECT_EQ(got[i].dtype, dtype_of(want.storage_class));
    EXPECT_EQ(got[i].shape, want.shape);
    EXPECT_EQ(copy_of(got[i].bytes), expected);
    EXPECT_GE(got[i].bytes.data(), file->data());
    EXPECT_LE(got[i].bytes.data() + got[i].bytes.size(), file->data() + file->size());
    EXPECT_EQ(got[i].file, file);
  }
  // Views point into their storage rather than at copies.
  EXPECT_EQ(got[3].bytes.data(), got[0].bytes.data() + 12 * 4);
}

TorchArchiveOptions archive_options(void (*change)(TorchArchiveOptions&)) {
  TorchArchiveOptions o;
  change(o);
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, TorchArchiveForms,
    ::testing::Values(ArchiveForm{"torch_1_13", {}},
                      ArchiveForm{"torch_2", archive_options([](TorchArchiveOptions& o) {
                                    o.byteorder = true;
                                    o.serialization_id = true;
                                  })},
                      ArchiveForm{"file_stem_prefix", archive_options([](TorchArchiveOptions& o) {
                                    o.prefix = "pytorch_model";
                                  })},
                      ArchiveForm{"zip64", archive_options([](TorchArchiveOptions& o) {
                                    o.zip.zip64_extra = true;
                                  })}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(TorchArchive, AcceptsWhatTorchCallsContiguous) {
  Sample s;
  s.tensors = {
      {.name = "column", .key = "0", .storage_numel = 24, .shape = {6, 1}, .stride = {1, 6}},
      {.name = "empty",
       .key = "0",
       .storage_numel = 24,
       .storage_offset = 24,
       .shape = {0, 3},
       .stride = {7, 7}}};
  s.storages = {{"0", pattern(96, 1)}};
  const auto got = read_archive(archive(s));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(copy_of(got[0].bytes),
            Bytes(s.storages[0].second.begin(), s.storages[0].second.begin() + 24));
  EXPECT_TRUE(got[1].bytes.empty());
}

TEST(TorchArchive, RejectsNonContiguousTensors) {
  Sample s;
  s.tensors[0].shape = {6, 4};
  s.tensors[0].stride = {1, 6};  // a transpose
  EXPECT_TRUE(rejects([&] { read_archive(archive(s)); },
                      {"tensor 'a.weight'", "stride (1, 6) of size (6, 4) is not contiguous"}));
  s = Sample();
  s.tensors[1].stride = {5, 2};  // every other element
  EXPECT_TRUE(rejects([&] { read_archive(archive(s)); }, {"tensor 'b.half'", "not contiguous"}));
}

TEST(TorchArchive, RejectsStoragesOfTheWrongSize) {
  Sample s;
  s.storages[0].second.resize(80);
  EXPECT_TRUE(rejects(
      [&] { read_archive(archive(s)); },
      {"tensor 'a.weight'", "storage '0' declares 24 F32 elements but its member holds 80 bytes"}));
  s = Sample();
  s.storages[1].second.push_back(0);
  EXPECT_TRUE(rejects([&] { read_archive(archive(s)); }, {"storage '1' declares 15 F16 elements"}));
  s = Sample();
  for (auto& t : s.tensors) {
    if (t.key == "0") t.storage_numel = 4'611'686'018'427'387'904ull;  // × 4 bytes overflows
  }
  EXPECT_TRUE(
      rejects([&] { read_archive(archive(s)); }, {"declares 4611686018427387904 F32 elements"}));
}

TEST(TorchArchive, RejectsTensorsOutsideTheirStorage) {
  Sample s;
  s.tensors[3].storage_offset = 13;  // view.rows: elements 13..25 of 24
  EXPECT_TRUE(
      rejects([&] { read_archive(archive(s)); },
              {"tensor 'view.rows'", "elements 13..13+12 lie outside its storage of 24 elements"}));
  s = Sample();
  s.tensors[3].storage_offset = 9'223'372'036'854'775'807ull;  // the largest a pickle can hold
  EXPECT_TRUE(
      rejects([&] { read_archive(archive(s)); }, {"tensor 'view.rows'", "outside its storage"}));
}

TEST(TorchArchive, RejectsViewsThatDisagreeOnTheirStorage) {
  Sample s;
  s.tensors[3].storage_numel = 25;
  EXPECT_TRUE(
      rejects([&] { read_archive(archive(s)); },
              {"tensor 'view.rows'",
               "is declared as 25 F32 elements here but as 24 F32 elements by tensor 'a.weight'"}));
  s = Sample();
  s.tensors[3].storage_class = "HalfStorage";
  s.tensors[3].storage_numel = 24;
  EXPECT_TRUE(
      rejects([&] { read_archive(archive(s)); }, {"as 24 F16 elements here but as 24 F32"}));
}

TEST(TorchArchive, RequiresEachStorageMemberExactlyWhenUsed) {
  Sample s;
  s.tensors[5].key = "9";
  EXPECT_TRUE(rejects([&] { read_archive(archive(s)); },
                      {"tensor 'scalar'", "its storage has no member 'archive/data/9'"}));
  s = Sample();
  s.storages.push_back({"7", pattern(8, 7)});
  EXPECT_TRUE(rejects([&] { read_archive(archive(s)); },
                      {"member 'archive/data/7'", "is not used by any tensor"}));
}

TEST(TorchArchive, RejectsMembersTorchSaveDoesNotWrite) {
  const Sample s;
  const Bytes pickle = build_state_dict_pickle(s.tensors).bytes;
  const auto with_extra = [&](ZipEntry extra) {
    auto entries = torch_archive_entries(pickle, s.storages);
    entries.push_back(std::move(extra));
    return build_zip(entries).bytes;
  };
  for (const char* name : {"archive/constants.pkl", "archive/code/__torch__.py", "archive/data/0/x",
                           "archive/data/", "archive/extra"}) {
    EXPECT_TRUE(rejects(
        [&] {
          read_archive(with_extra({name, pattern(3, 1)}));
        },
        {std::string("member '") + name + "'", "is not part of a torch.save state dict"}));
  }
  EXPECT_TRUE(rejects(
      [&] {
        read_archive(with_extra({"other/data/5", pattern(4, 1)}));
      },
      {"member 'other/data/5'", "is outside the folder 'archive/'"}));
  EXPECT_TRUE(rejects(
      [&] {
        read_archive(build_zip({{"data.pkl", pickle}}).bytes);
      },
      {"member 'data.pkl'", "is not inside a top-level folder"}));
  EXPECT_TRUE(rejects([&] { read_archive(build_zip({}).bytes); }, {"archive: has no members"}));
}

TEST(TorchArchive, RequiresLittleEndianByteOrder) {
  const Sample s;
  auto entries =
      torch_archive_entries(build_state_dict_pickle(s.tensors).bytes, s.storages,
                            archive_options([](TorchArchiveOptions& o) { o.byteorder = true; }));
  ASSERT_EQ(entries[1].name, "archive/byteorder");
  entries[1].data = to_bytes("big");
  EXPECT_TRUE(rejects([&] { read_archive(build_zip(entries).bytes); },
                      {"member 'archive/byteorder'", "says 'big': only little-endian"}));
}

TEST(TorchArchive, RequiresDataPkl) {
  const Sample s;
  auto entries = torch_archive_entries(build_state_dict_pickle(s.tensors).bytes, s.storages);
  entries.erase(entries.begin());
  EXPECT_TRUE(rejects([&] { read_archive(build_zip(entries).bytes); },
                      {"member 'archive/data.pkl'", "is missing"}));
}

TEST(TorchArchive, RejectsTheLegacyFormat) {
  // torch < 1.6 wrote a bare pickle stream: PROTO 2, then the magic number as LONG1.
  PickleWriter legacy;
  legacy.proto().op(op::LONG1).raw(10).raw("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19");
  EXPECT_TRUE(rejects([&] { read_archive(legacy.bytes()); }, {"legacy format"}));
}

TEST(TorchArchive, PassesZipAndPickleErrorsThrough) {
  const Sample s;
  ZipArchive z = build_torch_archive(build_state_dict_pickle(s.tensors).bytes, s.storages);
  store_le(z.bytes, z.members[1].central_header + zip_field::central_method, 8, 2);
  EXPECT_TRUE(
      rejects([&] { read_archive(z.bytes); }, {"member 'archive/data/0'", "compression method 8"}));

  const Bytes evil = replace_all(build_state_dict_pickle(s.tensors).bytes,
                                 "collections\nOrderedDict", "posix\nsystem");
  EXPECT_TRUE(rejects([&] { read_archive(build_torch_archive(evil, s.storages).bytes); },
                      {"pytorch_model.bin: data.pkl: global 'posix.system' is not allowed"}));
}

}  // namespace
}  // namespace mobilellm
