// Restricted unpickler and torch.save archive reader. See torch_checkpoint.hpp for the rules.
//
// The unpickler never calls anything: "globals" are looked up in a fixed allow-list and become
// inert tags, REDUCE on those tags builds plain descriptions (an empty OrderedDict, a tensor
// header), and persistent ids become storage descriptions. Values live in an arena and refer to
// each other by index, so shared or even self-referencing structures cost no copies, cannot
// recurse, and are freed in one sweep.
#include "convert/torch_checkpoint.hpp"

#include <fmt/format.h>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <type_traits>
#include <variant>

#include "common/byte_reader.hpp"
#include "common/checked.hpp"
#include "common/utf8.hpp"
#include "convert/zip.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

// Limits. torch.save batches SETITEMS by 1000 pairs (about 2000 stack slots), nests MARKs 3
// deep, and uses about a dozen memo entries per tensor; these leave ample room.
constexpr std::size_t kMaxStack = 1 << 16;
constexpr std::size_t kMaxMarks = 64;
constexpr std::size_t kMaxMemo = 1 << 22;
constexpr std::size_t kMaxDictEntries = 1 << 20;
constexpr std::size_t kMaxGlobalLine = 256;
constexpr std::size_t kMaxDims = 8;
constexpr std::uint64_t kMaxPickleBytes = 64ull << 20;

// The opcodes this reader executes.
enum Opcode : std::uint8_t {
  kMark = '(',
  kStop = '.',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinUnicode = 'X',
  kBuild = 'b',
  kGlobal = 'c',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kSetItems = 'u',
  kEmptyTuple = ')',
  kEmptyDict = '}',
  kProto = 0x80,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
};

// Names of every opcode of pickle protocols 0-5, for messages about the ones we reject.
const char* opcode_name(std::uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 'F': return "FLOAT";
    case 'G': return "BINFLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case 'u': return "SETITEMS";
    case ')': return "EMPTY_TUPLE";
    case ']': return "EMPTY_LIST";
    case '}': return "EMPTY_DICT";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

// ------------------------------------------------------------------------------- values

using Ref = std::size_t;  // index of a value in Unpickler::values_

struct None {};
struct Tuple {
  std::vector<Ref> items;
};
struct Dict {
  bool ordered = false;  // collections.OrderedDict() rather than EMPTY_DICT
  std::vector<std::pair<Ref, Ref>> entries;
};
// The allow-listed callables: REDUCE on them builds an inert value.
enum class Callable { ordered_dict, rebuild_tensor_v2, rebuild_parameter };
// torch.FloatStorage and friends: only meaningful inside a persistent id.
struct StorageClass {
  SourceDType dtype;
};
struct Storage {
  SourceDType dtype;
  std::string key;
  std::uint64_t numel;
};
struct Tensor {
  Ref storage;
  std::uint64_t offset;
  std::vector<std::uint64_t> shape, stride;
};
using Value = std::variant<None, bool, std::int64_t, std::string, Tuple, Dict, Callable,
                           StorageClass, Storage, Tensor>;

template <typename T>
constexpr const char* kind_name() {
  if constexpr (std::is_same_v<T, None>)
    return "None";
  else if constexpr (std::is_same_v<T, bool>)
    return "a bool";
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return "an int";
  else if constexpr (std::is_same_v<T, std::string>)
    return "a str";
  else if constexpr (std::is_same_v<T, Tuple>)
    return "a tuple";
  else if constexpr (std::is_same_v<T, Dict>)
    return "a dict";
  else if constexpr (std::is_same_v<T, Callable>)
    return "a callable";
  else if constexpr (std::is_same_v<T, StorageClass>)
    return "a storage class";
  else if constexpr (std::is_same_v<T, Storage>)
    return "a storage";
  else
    return "a tensor";
}

// What a value is, naming the global for allow-listed callables and storage classes.
std::string kind_name(const Value& v) {
  if (const auto* c = std::get_if<Callable>(&v)) {
    switch (*c) {
      case Callable::ordered_dict: return "collections.OrderedDict";
      case Callable::rebuild_tensor_v2: return "torch._utils._rebuild_tensor_v2";
      case Callable::rebuild_parameter: return "torch._utils._rebuild_parameter";
    }
  }
  if (const auto* sc = std::get_if<StorageClass>(&v)) {
    switch (sc->dtype) {
      case SourceDType::f32: return "the storage class torch.FloatStorage";
      case SourceDType::f16: return "the storage class torch.HalfStorage";
      case SourceDType::bf16: return "the storage class torch.BFloat16Storage";
    }
  }
  return std::visit([](const auto& x) { return std::string(kind_name<std::decay_t<decltype(x)>>()); }, v);
}

// The allow-list. Anything else named by GLOBAL is refused.
std::optional<Value> allowed_global(std::string_view module, std::string_view name) {
  if (module == "collections" && name == "OrderedDict") return Callable::ordered_dict;
  if (module == "torch._utils" && name == "_rebuild_tensor_v2") return Callable::rebuild_tensor_v2;
  if (module == "torch._utils" && name == "_rebuild_parameter") return Callable::rebuild_parameter;
  if (module == "torch" && name == "FloatStorage") return StorageClass{SourceDType::f32};
  if (module == "torch" && name == "HalfStorage") return StorageClass{SourceDType::f16};
  if (module == "torch" && name == "BFloat16Storage") return StorageClass{SourceDType::bf16};
  return std::nullopt;
}

// ---------------------------------------------------------------------------- machine

class Unpickler {
 public:
  Unpickler(std::span<const std::uint8_t> pickle, const std::string& file) : r_(pickle, file) {}

  std::vector<PickledTensor> run() {
    for (;;) {
      op_offset_ = r_.offset();
      if (r_.at_end()) fail("the pickle ends without STOP");
      const std::uint8_t op = r_.u8("data.pkl: opcode");
      if (op_offset_ == 0 && op != kProto)
        fail("does not start with PROTO: torch.save writes protocol 2 pickles");
      switch (op) {
        case kProto: {
          const std::uint8_t version = r_.u8("data.pkl: PROTO");
          if (op_offset_ != 0) fail("PROTO may only appear at the start");
          if (version != 2)
            fail(fmt::format("pickle protocol {} is not supported: torch.save writes protocol 2",
                             version));
          break;
        }
        case kMark:
          if (marks_.size() == kMaxMarks) fail(fmt::format("more than {} nested MARKs", kMaxMarks));
          marks_.push_back(stack_.size());
          break;
        case kStop: return finish();
        case kNone: push_new(None{}); break;
        case kNewTrue: push_new(true); break;
        case kNewFalse: push_new(false); break;
        case kBinInt:
          push_new(std::int64_t{static_cast<std::int32_t>(r_.u32("data.pkl: BININT"))});
          break;
        case kBinInt1: push_new(std::int64_t{r_.u8("data.pkl: BININT1")}); break;
        case kBinInt2: push_new(std::int64_t{r_.u16("data.pkl: BININT2")}); break;
        case kLong1: push_new(read_long1()); break;
        case kBinUnicode: push_new(read_unicode()); break;
        case kEmptyTuple: push_new(Tuple{}); break;
        case kTuple1:
        case kTuple2:
        case kTuple3: {
          std::vector<Ref> items(op - kTuple1 + 1);
          for (std::size_t i = items.size(); i-- > 0;) items[i] = pop(opcode_name(op));
          push_new(Tuple{std::move(items)});
          break;
        }
        case kTuple: push_new(Tuple{pop_to_mark("TUPLE")}); break;
        case kEmptyDict: push_new(Dict{}); break;
        case kSetItem: {
          const Ref value = pop("SETITEM");
          const Ref key = pop("SETITEM");
          set_items({key, value}, "SETITEM");
          break;
        }
        case kSetItems: set_items(pop_to_mark("SETITEMS"), "SETITEMS"); break;
        case kBinPut: memo_put(r_.u8("data.pkl: BINPUT")); break;
        case kLongBinPut: memo_put(r_.u32("data.pkl: LONG_BINPUT")); break;
        case kBinGet: memo_get(r_.u8("data.pkl: BINGET")); break;
        case kLongBinGet: memo_get(r_.u32("data.pkl: LONG_BINGET")); break;
        case kGlobal: global(); break;
        case kBinPersId: persistent_id(); break;
        case kReduce: reduce(); break;
        case kBuild: build(); break;
        default:
          if (const char* name = opcode_name(op))
            fail(fmt::format("opcode {} ({:#04x}) is not allowed in a torch.save state dict", name,
                             op));
          fail(fmt::format("unknown opcode {:#04x}", op));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& detail) const {
    throw FormatError(r_.file(), "data.pkl", detail, op_offset_);
  }

  template <typename T>
  const T& get(Ref ref, std::string_view what) const {
    const T* v = std::get_if<T>(&values_[ref]);
    if (!v)
      fail(fmt::format("{} is {}, expected {}", what, kind_name(values_[ref]), kind_name<T>()));
    return *v;
  }

  std::uint64_t get_size(Ref ref, std::string_view what) const {
    const std::int64_t v = get<std::int64_t>(ref, what);
    if (v < 0) fail(fmt::format("{} is negative ({})", what, v));
    return static_cast<std::uint64_t>(v);
  }

  std::vector<std::uint64_t> get_sizes(Ref ref, std::string_view what) const {
    const Tuple& t = get<Tuple>(ref, what);
    if (t.items.size() > kMaxDims)
      fail(fmt::format("{} has {} dimensions, more than {}", what, t.items.size(), kMaxDims));
    std::vector<std::uint64_t> sizes;
    for (const Ref item : t.items) sizes.push_back(get_size(item, what));
    return sizes;
  }

  void push(Ref ref) {
    if (stack_.size() == kMaxStack)
      fail(fmt::format("the stack grows beyond {} values", kMaxStack));
    stack_.push_back(ref);
  }

  // Each opcode adds at most one value, so the arena is bounded by the pickle's length.
  void push_new(Value v) {
    values_.push_back(std::move(v));
    push(values_.size() - 1);
  }

  // Values below the innermost MARK belong to an enclosing construct and cannot be popped.
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

  Ref top(const char* op) const {
    if (stack_.size() <= floor()) fail(fmt::format("stack underflow: {} needs a value", op));
    return stack_.back();
  }

  Ref pop(const char* op) {
    const Ref ref = top(op);
    stack_.pop_back();
    return ref;
  }

  std::vector<Ref> pop_to_mark(const char* op) {
    if (marks_.empty()) fail(fmt::format("{} without a MARK", op));
    std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                           stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  // pickle numbers memo entries 0, 1, 2... in order; an index may also overwrite an entry.
  void memo_put(std::uint64_t index) {
    const Ref ref = top("BINPUT");
    if (index < memo_.size()) {
      memo_[index] = ref;
    } else if (index == memo_.size() && memo_.size() < kMaxMemo) {
      memo_.push_back(ref);
    } else {
      fail(fmt::format("memo index {} is out of sequence: the memo holds {} entries (at most {})",
                       index, memo_.size(), kMaxMemo));
    }
  }

  void memo_get(std::uint64_t index) {
    if (index >= memo_.size())
      fail(fmt::format("memo index {} is out of range: the memo holds {} entries", index,
                       memo_.size()));
    push(memo_[index]);
  }

  std::int64_t read_long1() {
    const std::uint8_t n = r_.u8("data.pkl: LONG1");
    if (n > 8) fail(fmt::format("LONG1 integer of {} bytes does not fit in 64 bits", n));
    const auto bytes = r_.bytes(n, "data.pkl: LONG1");
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{bytes[i]} << (8 * i);
    if (n > 0 && n < 8 && (bytes[n - 1] & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
    return static_cast<std::int64_t>(v);
  }

  std::string read_unicode() {
    const std::uint32_t n = r_.u32("data.pkl: BINUNICODE");
    const auto bytes = r_.bytes(n, "data.pkl: BINUNICODE");  // checks n against the bytes left
    std::string s(bytes.begin(), bytes.end());
    if (!is_valid_utf8(s)) fail("BINUNICODE string '" + printable(s) + "' is not valid UTF-8");
    return s;
  }

  // GLOBAL's operands: "module\nname\n".
  std::string read_line(const char* what) {
    const std::string field = fmt::format("data.pkl: GLOBAL {}", what);
    std::string s;
    for (;;) {
      const std::uint8_t c = r_.u8(field);
      if (c == '\n') return s;
      if (s.size() == kMaxGlobalLine)
        fail(fmt::format("GLOBAL {} is longer than {} bytes", what, kMaxGlobalLine));
      s.push_back(static_cast<char>(c));
    }
  }

  void global() {
    const std::string module = read_line("module");
    const std::string name = read_line("name");
    if (auto v = allowed_global(module, name)) return push_new(std::move(*v));
    if (module == "torch" && name.ends_with("Storage"))
      fail("tensor storage torch." + printable(name) +
           " is not supported: only torch.FloatStorage, torch.HalfStorage and "
           "torch.BFloat16Storage (F32, F16, BF16) tensors can be read");
    fail("global '" + printable(module + "." + name) +
         "' is not allowed: a state dict needs only collections.OrderedDict, "
         "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the storage "
         "classes, and this reader calls nothing");
  }

  // torch.save's persistent id for a storage: ('storage', storage class, key, location, numel).
  void persistent_id() {
    const Tuple& id = get<Tuple>(pop("BINPERSID"), "the persistent id");
    if (id.items.size() != 5)
      fail(
          fmt::format("the persistent id has {} items, expected 5 ('storage', storage class, "
                      "key, location, numel)",
                      id.items.size()));
    if (get<std::string>(id.items[0], "the persistent id's tag") != "storage")
      fail("the persistent id's tag is not 'storage'");
    const SourceDType dtype = get<StorageClass>(id.items[1], "the persistent id's class").dtype;
    std::string key = get<std::string>(id.items[2], "the storage key");
    get<std::string>(id.items[3], "the storage location");  // "cpu", "cuda:0"...: same bytes
    const std::uint64_t numel = get_size(id.items[4], "the storage size");
    push_new(Storage{dtype, std::move(key), numel});
  }

  void expect_no_hooks(Ref ref) const {
    if (!get<Dict>(ref, "backward_hooks").entries.empty()) fail("backward_hooks is not empty");
  }

  void reduce() {
    const Ref args_ref = pop("REDUCE");
    const Callable callable = get<Callable>(pop("REDUCE"), "the REDUCE callable");
    const std::vector<Ref> args = get<Tuple>(args_ref, "the REDUCE arguments").items;
    switch (callable) {
      case Callable::ordered_dict:
        if (!args.empty())
          fail(fmt::format("collections.OrderedDict is given {} arguments, expected none",
                           args.size()));
        return push_new(Dict{true, {}});
      case Callable::rebuild_tensor_v2: return push_new(rebuild_tensor(args));
      case Callable::rebuild_parameter:
        // nn.Parameter(data, requires_grad) with no hooks: the tensor itself is what we keep.
        if (args.size() != 3)
          fail(
              fmt::format("torch._utils._rebuild_parameter is given {} arguments, expected 3 "
                          "(data, requires_grad, backward_hooks)",
                          args.size()));
        get<Tensor>(args[0], "the parameter's data");
        get<bool>(args[1], "requires_grad");
        expect_no_hooks(args[2]);
        return push(args[0]);
    }
  }

  Tensor rebuild_tensor(const std::vector<Ref>& args) const {
    // A seventh argument would carry tensor metadata (e.g. conjugate bits) torch cannot drop.
    if (args.size() != 6)
      fail(
          fmt::format("torch._utils._rebuild_tensor_v2 is given {} arguments, expected 6 "
                      "(storage, storage_offset, size, stride, requires_grad, backward_hooks)",
                      args.size()));
    get<Storage>(args[0], "the tensor's storage");
    Tensor t{args[0], get_size(args[1], "the storage offset"), get_sizes(args[2], "the size"),
             get_sizes(args[3], "the stride")};
    if (t.shape.size() != t.stride.size())
      fail(fmt::format("the size has {} dimensions but the stride {}", t.shape.size(),
                       t.stride.size()));
    get<bool>(args[4], "requires_grad");
    expect_no_hooks(args[5]);
    return t;
  }

  // BUILD sets attributes of the object below it. torch.save uses it for the `_metadata`
  // (per-module versions) of a state dict's OrderedDict, which we accept and ignore.
  void build() {
    const Ref state = pop("BUILD");
    const Dict& target = get<Dict>(top("BUILD"), "the BUILD target");
    if (!target.ordered) fail("BUILD on a plain dict: only an OrderedDict's _metadata is accepted");
    get<Dict>(state, "the BUILD state");
  }

  void set_items(const std::vector<Ref>& items, const char* op) {
    if (items.size() % 2 != 0)
      fail(fmt::format("{} has an odd number of values ({}) after its MARK", op, items.size()));
    const Ref target = top(op);
    Dict* dict = std::get_if<Dict>(&values_[target]);
    if (!dict) fail(fmt::format("{} applies to {}, not a dict", op, kind_name(values_[target])));
    if (items.size() / 2 > kMaxDictEntries - dict->entries.size())
      fail(fmt::format("a dict grows beyond {} entries", kMaxDictEntries));
    for (std::size_t i = 0; i < items.size(); i += 2)
      dict->entries.emplace_back(items[i], items[i + 1]);
  }

  // STOP: the pickle must be exactly one state dict.
  std::vector<PickledTensor> finish() const {
    if (!marks_.empty()) fail(fmt::format("STOP with {} MARKs still open", marks_.size()));
    if (stack_.size() != 1)
      fail(fmt::format("STOP with {} values on the stack, expected only the state dict",
                       stack_.size()));
    if (!r_.at_end()) fail(fmt::format("{} bytes follow STOP", r_.remaining()));
    const Dict& root = get<Dict>(stack_[0], "the pickled object");
    std::set<std::string_view> names;
    std::vector<PickledTensor> tensors;
    tensors.reserve(root.entries.size());
    for (const auto& [key, value] : root.entries) {
      const std::string& name = get<std::string>(key, "a state-dict key");
      if (name.empty() || !is_valid_name(name))
        fail("state-dict key '" + printable(name) + "' is empty or contains NUL");
      if (!names.insert(name).second)
        fail("state-dict key '" + printable(name) + "' appears twice");
      const Tensor& t = get<Tensor>(value, "state-dict entry '" + printable(name) + "'");
      const Storage& s = std::get<Storage>(values_[t.storage]);
      tensors.push_back(PickledTensor{name, s.key, s.dtype, t.offset, s.numel, t.shape, t.stride});
    }
    return tensors;
  }

  ByteReader r_;
  std::uint64_t op_offset_ = 0;  // of the opcode being executed, for messages
  std::deque<Value> values_;     // the arena; a deque so references stay valid as it grows
  std::vector<Ref> stack_;
  std::vector<std::size_t> marks_;  // stack heights at each open MARK
  std::vector<Ref> memo_;
};

// ------------------------------------------------------------------------------ archive

std::string shape_string(const std::vector<std::uint64_t>& v) {
  return fmt::format("({})", fmt::join(v, ", "));
}

// Checks that `t` is contiguous and inside its storage; returns its element count.
std::uint64_t check_layout(const PickledTensor& t, const std::string& file,
                           const std::string& field) {
  std::uint64_t numel = 1;
  for (const std::uint64_t d : t.shape) {
    const auto n = checked_mul(numel, d);
    if (!n)
      throw FormatError(file, field,
                        "size " + shape_string(t.shape) + " has more elements than fit in 64 bits");
    numel = *n;
  }
  // torch's rule: an empty tensor is contiguous, and the stride of a size-1 dimension is free.
  if (numel != 0) {
    std::uint64_t expected = 1;
    for (std::size_t i = t.shape.size(); i-- > 0;) {
      if (t.shape[i] != 1 && t.stride[i] != expected)
        throw FormatError(file, field,
                          fmt::format("stride {} of size {} is not contiguous (dimension {} "
                                      "should have stride {}); save tensors with .contiguous()",
                                      shape_string(t.stride), shape_string(t.shape), i, expected));
      expected *= t.shape[i];  // a prefix product of numel: cannot overflow
    }
  }
  const auto end = checked_add(t.storage_offset, numel);
  if (!end || *end > t.storage_numel)
    throw FormatError(file, field,
                      fmt::format("elements {}..{}+{} lie outside its storage of {} elements",
                                  t.storage_offset, t.storage_offset, numel, t.storage_numel));
  return numel;
}

std::string member_field(std::string_view name) { return "member '" + printable(name) + "'"; }

}  // namespace

std::vector<PickledTensor> parse_state_dict_pickle(std::span<const std::uint8_t> pickle,
                                                   const std::string& file) {
  return Unpickler(pickle, file).run();
}

std::vector<SourceTensor> read_torch_checkpoint(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  // torch.save's legacy format is a bare pickle stream, which opens with PROTO 2.
  if (file->size() >= 2 && file->data()[0] == kProto && file->data()[1] == 2)
    throw FormatError(path, "(file)",
                      "is in torch.save's legacy format (a bare pickle: torch < 1.6, or "
                      "_use_new_zipfile_serialization=False); re-save it with a recent torch",
                      0);
  const std::vector<ZipMember> members = read_zip(file->bytes(), path);
  if (members.empty()) throw FormatError(path, "archive", "has no members");

  // Every member sits in one top-level folder, named after the archive by torch.save.
  const auto slash = members[0].name.find('/');
  if (slash == std::string::npos || slash == 0)
    throw FormatError(path, member_field(members[0].name),
                      "is not inside a top-level folder, as torch.save writes every member",
                      members[0].local_header_offset);
  const std::string prefix = members[0].name.substr(0, slash + 1);

  const ZipMember* pickle = nullptr;
  std::map<std::string, const ZipMember*> storages;  // key -> "<prefix>data/<key>"
  for (const ZipMember& m : members) {
    auto error = [&](const std::string& detail) {
      return FormatError(path, member_field(m.name), detail, m.local_header_offset);
    };
    if (!m.name.starts_with(prefix))
      throw error("is outside the folder '" + printable(prefix) + "' of the other members");
    const std::string_view rest = std::string_view(m.name).substr(prefix.size());
    if (rest == "data.pkl") {
      pickle = &m;
    } else if (rest.starts_with("data/") && rest.size() > 5 &&
               rest.find('/', 5) == std::string_view::npos) {
      storages.emplace(std::string(rest.substr(5)), &m);  // names are unique (read_zip)
    } else if (rest == "byteorder") {
      const std::string_view order(reinterpret_cast<const char*>(m.data.data()), m.data.size());
      if (order != "little")
        throw error("says '" + printable(order, 16) +
                    "': only little-endian checkpoints are supported");
    } else if (rest != "version" && rest != ".data/version" && rest != ".data/serialization_id") {
      throw error(
          "is not part of a torch.save state dict (data.pkl, data/<key>, byteorder, "
          "version, .data/version, .data/serialization_id)");
    }
  }
  if (!pickle)
    throw FormatError(path, member_field(prefix + "data.pkl"),
                      "is missing: not a torch.save archive");
  if (pickle->data.size() > kMaxPickleBytes)
    throw FormatError(
        path, member_field(pickle->name),
        fmt::format("is {} bytes, more than the limit of {}", pickle->data.size(), kMaxPickleBytes),
        pickle->local_header_offset);

  const std::vector<PickledTensor> pickled = parse_state_dict_pickle(pickle->data, path);
  std::map<std::string, const PickledTensor*> first_use;  // storage key -> first tensor using it
  std::vector<SourceTensor> tensors;
  tensors.reserve(pickled.size());
  for (const PickledTensor& p : pickled) {
    const std::string field = "tensor '" + printable(p.name) + "'";
    const auto it = storages.find(p.storage_key);
    if (it == storages.end())
      throw FormatError(
          path, field,
          "its storage has no member '" + printable(prefix + "data/" + p.storage_key) + "'");
    const ZipMember& m = *it->second;
    const std::uint64_t element_size = source_dtype_size(p.dtype);
    const auto [use, first] = first_use.emplace(p.storage_key, &p);
    if (first) {
      const auto bytes = checked_mul(p.storage_numel, element_size);
      if (!bytes || *bytes != m.data.size())
        throw FormatError(path, field,
                          fmt::format("storage '{}' declares {} {} elements but its member holds "
                                      "{} bytes",
                                      printable(p.storage_key), p.storage_numel,
                                      source_dtype_name(p.dtype), m.data.size()));
    } else if (use->second->dtype != p.dtype || use->second->storage_numel != p.storage_numel) {
      throw FormatError(
          path, field,
          fmt::format("storage '{}' is declared as {} {} elements here but as {} {} "
                      "elements by tensor '{}'",
                      printable(p.storage_key), p.storage_numel, source_dtype_name(p.dtype),
                      use->second->storage_numel, source_dtype_name(use->second->dtype),
                      printable(use->second->name)));
    }
    const std::uint64_t numel = check_layout(p, path, field);
    tensors.push_back(
        SourceTensor{p.name, p.dtype, p.shape,
                     m.data.subspan(p.storage_offset * element_size, numel * element_size), file});
  }
  for (const auto& [key, member] : storages) {
    if (!first_use.count(key))
      throw FormatError(path, member_field(member->name), "is not used by any tensor",
                        member->local_header_offset);
  }
  return tensors;
}

}  // namespace mobilellm
