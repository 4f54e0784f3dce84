// In-memory builders of valid checkpoint files for tests:
//   - safetensors files (header JSON + data area, laid out like the reference writer);
//   - zip archives laid out like torch.save's (stored members, data descriptors, 64-byte aligned
//     data, zip64 end records), or plainer ones;
//   - state-dict pickles written opcode for opcode, memo for memo, as torch.save (protocol 2)
//     writes them, plus a low-level PickleWriter for crafting anything else;
//   - torch.save archives around such a pickle.
// Every builder returns the bytes together with the offsets of the fields worth mutating, so a
// hostile-input test starts from a valid file and breaks exactly one thing. The builders share
// no code with the readers under test (own CRC-32, own layouts), so a reader bug is not mirrored.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/file.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::checkpoint_bytes {

using Bytes = std::vector<std::uint8_t>;

// ------------------------------------------------------------------------ byte helpers

inline void append_le(Bytes& b, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) b.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

inline void store_le(Bytes& b, std::uint64_t offset, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) b.at(offset + i) = static_cast<std::uint8_t>(value >> (8 * i));
}

inline std::uint64_t load_le(const Bytes& b, std::uint64_t offset, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= std::uint64_t{b.at(offset + i)} << (8 * i);
  return v;
}

inline void append(Bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }
inline void append(Bytes& b, std::span<const std::uint8_t> s) {
  b.insert(b.end(), s.begin(), s.end());
}

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// `n` bytes that differ from their neighbours and from other seeds: stand-ins for tensor data.
inline Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(seed * 31 + i * 7 + (i >> 8));
  return b;
}

// The bytes of `span` (e.g. a tensor view returned by a reader), for comparisons.
inline Bytes copy_of(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

// Bit-at-a-time CRC-32 (reflected 0xedb88320), independent of the library's table version.
inline std::uint32_t reference_crc32(std::span<const std::uint8_t> bytes) {
  std::uint32_t c = 0xffffffffu;
  for (std::uint8_t byte : bytes) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// -------------------------------------------------------------------------- safetensors

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", or anything else for rejection tests
  std::vector<std::uint64_t> shape;
  Bytes data;  // laid out back to back, in the order given
};

struct SafetensorsFile {
  Bytes bytes;
  std::string header;             // the JSON text as written, including its space padding
  std::uint64_t data_offset = 0;  // start of the data area (8 + header.size())
  std::vector<std::uint64_t> tensor_offsets;  // file offset of each tensor's data, input order
};

// The header object for `tensors` laid out back to back in the order given (keys keep that
// order), with `__metadata__` first when `metadata` is not empty.
inline nlohmann::ordered_json safetensors_header(
    const std::vector<SafetensorsTensor>& tensors,
    const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  return header;
}

// An 8-byte little-endian header length (`declared_length` when given, else the header's size),
// the header text exactly as given, then `data`.
inline Bytes assemble_safetensors(std::string_view header, std::span<const std::uint8_t> data,
                                  std::optional<std::uint64_t> declared_length = std::nullopt) {
  Bytes b;
  append_le(b, declared_length.value_or(header.size()), 8);
  append(b, header);
  append(b, data);
  return b;
}

// A valid file: the header padded with spaces to a multiple of 8 bytes, as the reference writer
// does, then the tensors' data back to back.
inline SafetensorsFile build_safetensors(const std::vector<SafetensorsTensor>& tensors,
                                         const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsFile f;
  f.header = safetensors_header(tensors, metadata).dump();
  f.header.append((8 - f.header.size() % 8) % 8, ' ');
  f.data_offset = 8 + f.header.size();
  Bytes data;
  for (const auto& t : tensors) {
    f.tensor_offsets.push_back(f.data_offset + data.size());
    append(data, t.data);
  }
  f.bytes = assemble_safetensors(f.header, data);
  return f;
}

// ---------------------------------------------------------------------------------- zip

// Offsets of fields inside zip records (APPNOTE.TXT 4.3), for mutations.
namespace zip_field {
// local file header (30 bytes + name + extra)
constexpr std::uint64_t local_signature = 0, local_flags = 6, local_method = 8, local_crc = 14,
                        local_compressed = 18, local_uncompressed = 22, local_name_size = 26,
                        local_extra_size = 28, local_name = 30;
// central directory header (46 bytes + name + extra + comment)
constexpr std::uint64_t central_signature = 0, central_flags = 8, central_method = 10,
                        central_crc = 16, central_compressed = 20, central_uncompressed = 24,
                        central_name_size = 28, central_extra_size = 30, central_comment_size = 32,
                        central_disk = 34, central_local_offset = 42, central_name = 46;
// data descriptor: signature, CRC-32, then compressed and uncompressed sizes (4 or 8 bytes each)
constexpr std::uint64_t descriptor_signature = 0, descriptor_crc = 4, descriptor_compressed = 8;
// end of central directory (22 bytes + comment)
constexpr std::uint64_t end_disk = 4, end_directory_disk = 6, end_entries_on_disk = 8,
                        end_entries = 10, end_directory_size = 12, end_directory_offset = 16,
                        end_comment_size = 20;
// zip64 end of central directory (56 bytes)
constexpr std::uint64_t zip64_end_record_size = 4, zip64_end_disk = 16,
                        zip64_end_entries_on_disk = 24, zip64_end_entries = 32,
                        zip64_end_directory_size = 40, zip64_end_directory_offset = 48;
// zip64 end of central directory locator (20 bytes)
constexpr std::uint64_t zip64_locator_disk = 4, zip64_locator_offset = 8, zip64_locator_disks = 16;
}  // namespace zip_field

struct ZipEntry {
  std::string name;
  Bytes data;
};

struct ZipOptions {
  // torch.save's way: flags 0x0808, zero CRC-32 and sizes in the local header, and a data
  // descriptor with the real ones after the data. Otherwise flags 0 and values in the header.
  bool data_descriptor = true;
  std::uint64_t alignment = 64;   // "FB" padding extra field so data starts at a multiple; 0: none
  bool zip64_end_records = true;  // zip64 end record and locator, as torch.save always writes
  // Zip64 extra fields with 0xffffffff in the classic size and offset fields, as for members
  // beyond 4 GiB (the data descriptor's sizes then take 8 bytes).
  bool zip64_extra = false;
};

struct ZipMemberOffsets {
  std::uint64_t local_header = 0;
  std::uint64_t data = 0;
  std::optional<std::uint64_t> descriptor;
  std::uint64_t central_header = 0;
};

struct ZipArchive {
  Bytes bytes;
  std::vector<ZipMemberOffsets> members;  // in the order given
  std::uint64_t central_directory = 0, central_directory_size = 0;
  std::optional<std::uint64_t> zip64_end_record, zip64_locator;
  std::uint64_t end_record = 0;
};

inline ZipArchive build_zip(const std::vector<ZipEntry>& entries, const ZipOptions& options = {}) {
  constexpr std::uint64_t kMarker32 = 0xffffffff;
  const std::uint16_t flags = options.data_descriptor ? 0x0808 : 0;
  ZipArchive z;
  Bytes& b = z.bytes;
  std::vector<std::uint32_t> crcs;
  for (const ZipEntry& e : entries) {
    ZipMemberOffsets m;
    m.local_header = b.size();
    const std::uint32_t crc = reference_crc32(e.data);
    crcs.push_back(crc);
    const std::uint64_t size = e.data.size();
    // Local extra fields: zip64 (both sizes; zero while deferred to the descriptor), then padding.
    Bytes extra;
    if (options.zip64_extra) {
      append_le(extra, 0x0001, 2);
      append_le(extra, 16, 2);
      append_le(extra, options.data_descriptor ? 0 : size, 8);
      append_le(extra, options.data_descriptor ? 0 : size, 8);
    }
    if (options.alignment > 0) {
      const std::uint64_t start = m.local_header + 30 + e.name.size() + extra.size() + 4;
      const std::uint64_t padding =
          (options.alignment - start % options.alignment) % options.alignment;
      append_le(extra, 0x4246, 2);  // "FB"
      append_le(extra, padding, 2);
      extra.insert(extra.end(), padding, 'Z');
    }
    const std::uint64_t local_size = options.zip64_extra       ? kMarker32
                                     : options.data_descriptor ? 0
                                                               : size;
    append_le(b, 0x04034b50, 4);
    append_le(b, 0, 2);  // version needed: torch writes 0
    append_le(b, flags, 2);
    append_le(b, 0, 2);  // stored
    append_le(b, 0, 4);  // time and date
    append_le(b, options.data_descriptor ? 0 : crc, 4);
    append_le(b, local_size, 4);
    append_le(b, local_size, 4);
    append_le(b, e.name.size(), 2);
    append_le(b, extra.size(), 2);
    append(b, e.name);
    append(b, extra);
    m.data = b.size();
    append(b, e.data);
    if (options.data_descriptor) {
      m.descriptor = b.size();
      append_le(b, 0x08074b50, 4);
      append_le(b, crc, 4);
      append_le(b, size, options.zip64_extra ? 8 : 4);
      append_le(b, size, options.zip64_extra ? 8 : 4);
    }
    z.members.push_back(m);
  }

  z.central_directory = b.size();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const ZipEntry& e = entries[i];
    ZipMemberOffsets& m = z.members[i];
    m.central_header = b.size();
    Bytes extra;
    if (options.zip64_extra) {
      append_le(extra, 0x0001, 2);
      append_le(extra, 24, 2);
      append_le(extra, e.data.size(), 8);  // uncompressed
      append_le(extra, e.data.size(), 8);  // compressed
      append_le(extra, m.local_header, 8);
    }
    const std::uint64_t size = options.zip64_extra ? kMarker32 : e.data.size();
    append_le(b, 0x02014b50, 4);
    append_le(b, 0, 4);  // versions made by / needed: torch writes 0
    append_le(b, flags, 2);
    append_le(b, 0, 2);  // stored
    append_le(b, 0, 4);  // time and date
    append_le(b, crcs[i], 4);
    append_le(b, size, 4);
    append_le(b, size, 4);
    append_le(b, e.name.size(), 2);
    append_le(b, extra.size(), 2);
    append_le(b, 0, 2);  // comment
    append_le(b, 0, 2);  // disk
    append_le(b, 0, 6);  // attributes
    append_le(b, options.zip64_extra ? kMarker32 : m.local_header, 4);
    append(b, e.name);
    append(b, extra);
  }
  z.central_directory_size = b.size() - z.central_directory;

  if (options.zip64_end_records) {
    z.zip64_end_record = b.size();
    append_le(b, 0x06064b50, 4);
    append_le(b, 44, 8);      // bytes after this field
    append_le(b, 0x031e, 2);  // made by, as miniz writes
    append_le(b, 0x002d, 2);  // needed: 4.5 (zip64)
    append_le(b, 0, 4);
    append_le(b, 0, 4);
    append_le(b, entries.size(), 8);
    append_le(b, entries.size(), 8);
    append_le(b, z.central_directory_size, 8);
    append_le(b, z.central_directory, 8);
    z.zip64_locator = b.size();
    append_le(b, 0x07064b50, 4);
    append_le(b, 0, 4);
    append_le(b, *z.zip64_end_record, 8);
    append_le(b, 1, 4);
  }
  z.end_record = b.size();
  append_le(b, 0x06054b50, 4);
  append_le(b, 0, 4);  // disks
  append_le(b, entries.size(), 2);
  append_le(b, entries.size(), 2);
  append_le(b, z.central_directory_size, 4);
  append_le(b, z.central_directory, 4);
  append_le(b, 0, 2);  // comment
  return z;
}

// ------------------------------------------------------------------------------- pickle

// Pickle opcodes, including ones the reader must refuse.
namespace op {
constexpr std::uint8_t MARK = '(', STOP = '.', POP = '0', DUP = '2', FLOAT = 'F', INT = 'I',
                       BININT = 'J', BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N',
                       PERSID = 'P', BINPERSID = 'Q', REDUCE = 'R', STRING = 'S', BINSTRING = 'T',
                       SHORT_BINSTRING = 'U', UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a',
                       BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}', APPENDS = 'e',
                       GET = 'g', BINGET = 'h', INST = 'i', LONG_BINGET = 'j', LIST = 'l',
                       EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r',
                       SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u',
                       BINFLOAT = 'G', PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83,
                       EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
                       NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, SHORT_BINUNICODE = 0x8c,
                       BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90,
                       FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94,
                       FRAME = 0x95;
}  // namespace op

// Appends opcodes with their operands encoded as CPython's pickler (protocol 2) encodes them.
class PickleWriter {
 public:
  PickleWriter& op(std::uint8_t opcode) { return raw(opcode); }
  PickleWriter& raw(std::uint8_t byte) {
    bytes_.push_back(byte);
    return *this;
  }
  PickleWriter& raw(std::string_view s) {
    append(bytes_, s);
    return *this;
  }
  PickleWriter& le(std::uint64_t value, int width) {
    append_le(bytes_, value, width);
    return *this;
  }

  PickleWriter& proto(std::uint8_t version = 2) { return op(op::PROTO).raw(version); }
  PickleWriter& global(std::string_view module, std::string_view name) {
    op(op::GLOBAL).raw(module).raw('\n').raw(name).raw('\n');
    return *this;
  }
  PickleWriter& unicode(std::string_view s) { return op(op::BINUNICODE).le(s.size(), 4).raw(s); }
  // BININT1 / BININT2 / BININT / LONG1, the smallest that holds `v`, as CPython chooses.
  PickleWriter& integer(std::int64_t v) {
    if (v >= 0 && v <= 0xff) return op(op::BININT1).le(v, 1);
    if (v >= 0 && v <= 0xffff) return op(op::BININT2).le(v, 2);
    if (v >= INT32_MIN && v <= INT32_MAX)
      return op(op::BININT).le(static_cast<std::uint32_t>(v), 4);
    Bytes two;  // minimal two's complement, little-endian
    std::uint64_t u = static_cast<std::uint64_t>(v);
    do {
      two.push_back(static_cast<std::uint8_t>(u));
      u = static_cast<std::uint64_t>(static_cast<std::int64_t>(u) >> 8);
    } while (
        !((u == 0 && !(two.back() & 0x80)) || (u == ~std::uint64_t{0} && (two.back() & 0x80))));
    op(op::LONG1).raw(static_cast<std::uint8_t>(two.size()));
    append(bytes_, two);
    return *this;
  }
  PickleWriter& boolean(bool v) { return op(v ? op::NEWTRUE : op::NEWFALSE); }
  PickleWriter& put(std::uint32_t index) {
    return index < 256 ? op(op::BINPUT).le(index, 1) : op(op::LONG_BINPUT).le(index, 4);
  }
  PickleWriter& get(std::uint32_t index) {
    return index < 256 ? op(op::BINGET).le(index, 1) : op(op::LONG_BINGET).le(index, 4);
  }
  // BINPUT of the next memo index (CPython numbers them in order).
  PickleWriter& memoize() { return put(next_memo_++); }
  std::uint32_t next_memo() const { return next_memo_; }

  // CPython memoizes objects by identity; torch.save's repeated globals, 'storage', storage keys
  // and locations are the same objects, so the second use is a BINGET. These emulate that.
  PickleWriter& global_once(std::string_view module, std::string_view name) {
    return once("c:" + std::string(module) + "\n" + std::string(name),
                [&] { global(module, name); });
  }
  PickleWriter& unicode_once(std::string_view s) {
    return once("s:" + std::string(s), [&] { unicode(s); });
  }

  std::uint64_t size() const { return bytes_.size(); }
  const Bytes& bytes() const { return bytes_; }

 private:
  template <typename F>
  PickleWriter& once(const std::string& id, F write) {
    if (const auto it = seen_.find(id); it != seen_.end()) return get(it->second);
    write();
    seen_.emplace(id, next_memo_);
    return memoize();
  }

  Bytes bytes_;
  std::uint32_t next_memo_ = 0;
  std::map<std::string, std::uint32_t> seen_;
};

struct PickleTensor {
  std::string name{};
  std::string storage_class = "FloatStorage";  // torch.<class>
  std::string key{};                           // storage key: member "<prefix>/data/<key>"
  std::uint64_t storage_numel = 0;
  std::uint64_t storage_offset = 0;
  std::vector<std::uint64_t> shape{};
  std::vector<std::uint64_t> stride{};  // empty: contiguous row-major
  bool parameter = false;             // wrapped in torch._utils._rebuild_parameter (keep_vars=True)
};

struct StateDictOptions {
  bool ordered = true;   // module.state_dict(): collections.OrderedDict(); else a plain {}
  bool metadata = true;  // (ordered only) BUILD {'_metadata': OrderedDict({'': {'version': 1}})}
  std::string location = "cpu";
};

struct StateDictPickle {
  Bytes bytes;
  std::vector<std::uint64_t> entry_offsets;  // offset of each tensor's key (its BINUNICODE)
  std::uint64_t stop_offset = 0;
};

inline std::vector<std::uint64_t> contiguous_stride(const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> stride(shape.size());
  std::uint64_t s = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    stride[i] = s;
    s *= shape[i];
  }
  return stride;
}

namespace detail {
// A tuple of ints as CPython's pickler writes it: EMPTY_TUPLE (not memoized), TUPLE1-3, or
// MARK ... TUPLE, memoized.
inline void int_tuple(PickleWriter& w, const std::vector<std::uint64_t>& v) {
  if (v.empty()) {
    w.op(op::EMPTY_TUPLE);
    return;
  }
  if (v.size() > 3) w.op(op::MARK);
  for (std::uint64_t x : v) w.integer(static_cast<std::int64_t>(x));
  w.op(v.size() == 1   ? op::TUPLE1
       : v.size() == 2 ? op::TUPLE2
       : v.size() == 3 ? op::TUPLE3
                       : op::TUPLE);
  w.memoize();
}

// An empty OrderedDict: collections.OrderedDict() via REDUCE.
inline void empty_ordered_dict(PickleWriter& w) {
  w.global_once("collections", "OrderedDict").op(op::EMPTY_TUPLE).op(op::REDUCE).memoize();
}

inline void tensor(PickleWriter& w, const PickleTensor& t, const std::string& location) {
  if (t.parameter) w.global_once("torch._utils", "_rebuild_parameter");
  w.global_once("torch._utils", "_rebuild_tensor_v2");
  w.op(op::MARK);
  w.op(op::MARK);  // persistent id
  w.unicode_once("storage").global_once("torch", t.storage_class).unicode_once(t.key);
  w.unicode_once(location).integer(static_cast<std::int64_t>(t.storage_numel));
  w.op(op::TUPLE).memoize().op(op::BINPERSID);
  w.integer(static_cast<std::int64_t>(t.storage_offset));
  int_tuple(w, t.shape);
  int_tuple(w, t.stride.empty() ? contiguous_stride(t.shape) : t.stride);
  w.boolean(false);
  empty_ordered_dict(w);  // backward hooks
  w.op(op::TUPLE).memoize().op(op::REDUCE).memoize();
  if (t.parameter) {
    w.boolean(true);
    empty_ordered_dict(w);
    w.op(op::TUPLE3).memoize().op(op::REDUCE).memoize();
  }
}
}  // namespace detail

// The pickle torch.save(state_dict) writes (protocol 2).
inline StateDictPickle build_state_dict_pickle(const std::vector<PickleTensor>& tensors,
                                               const StateDictOptions& options = {}) {
  PickleWriter w;
  StateDictPickle p;
  w.proto(2);
  if (options.ordered) {
    detail::empty_ordered_dict(w);
  } else {
    w.op(op::EMPTY_DICT).memoize();
  }
  // CPython's _batch_setitems: batches of 1000, a batch of one as a bare SETITEM.
  constexpr std::size_t kBatch = 1000;
  for (std::size_t begin = 0; begin < tensors.size(); begin += kBatch) {
    const std::size_t end = std::min(tensors.size(), begin + kBatch);
    if (end - begin > 1) w.op(op::MARK);
    for (std::size_t i = begin; i < end; ++i) {
      p.entry_offsets.push_back(w.size());
      w.unicode(tensors[i].name).memoize();
      detail::tensor(w, tensors[i], options.location);
    }
    w.op(end - begin > 1 ? op::SETITEMS : op::SETITEM);
  }
  if (options.ordered && options.metadata) {
    w.op(op::EMPTY_DICT).memoize().unicode("_metadata").memoize();
    detail::empty_ordered_dict(w);
    w.unicode("").memoize().op(op::EMPTY_DICT).memoize().unicode("version").memoize().integer(1);
    w.op(op::SETITEM).op(op::SETITEM).op(op::SETITEM).op(op::BUILD);
  }
  p.stop_offset = w.size();
  w.op(op::STOP);
  p.bytes = w.bytes();
  return p;
}

// --------------------------------------------------------------------- torch.save archive

struct TorchArchiveOptions {
  std::string prefix = "archive";  // torch uses "archive" or the file's stem
  bool byteorder = false;          // torch 2.x writes "<prefix>/byteorder" = "little"
  bool serialization_id = false;   // torch 2.x writes "<prefix>/.data/serialization_id"
  ZipOptions zip{};
};

// The archive torch.save writes: data.pkl, [byteorder], data/<key> in the order given, version,
// [.data/serialization_id]. Member i of the result's layout is member i of this list.
inline std::vector<ZipEntry> torch_archive_entries(
    const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& storages,
    const TorchArchiveOptions& options = {}) {
  const std::string p = options.prefix + "/";
  std::vector<ZipEntry> entries;
  entries.push_back({p + "data.pkl", pickle});
  if (options.byteorder) entries.push_back({p + "byteorder", to_bytes("little")});
  for (const auto& [key, data] : storages) entries.push_back({p + "data/" + key, data});
  entries.push_back({p + "version", to_bytes("3\n")});
  if (options.serialization_id)
    entries.push_back(
        {p + ".data/serialization_id", to_bytes("0123456789012345678901234567890123456789")});
  return entries;
}

inline ZipArchive build_torch_archive(const Bytes& pickle,
                                      const std::vector<std::pair<std::string, Bytes>>& storages,
                                      const TorchArchiveOptions& options = {}) {
  return build_zip(torch_archive_entries(pickle, storages, options), options.zip);
}

// ---------------------------------------------------------------------------- test glue

// Succeeds when `f` throws a FormatError whose message contains every one of `needles`.
//   EXPECT_TRUE(rejects([&] { read_zip(bytes, "a.zip"); }, {"method 8"}));
template <typename F>
::testing::AssertionResult rejects(F&& f, std::initializer_list<std::string_view> needles) {
  try {
    f();
  } catch (const FormatError& e) {
    const std::string what = e.what();
    for (std::string_view needle : needles) {
      if (what.find(needle) == std::string::npos)
        return ::testing::AssertionFailure()
               << "the message \"" << what << "\" lacks \"" << needle << "\"";
    }
    return ::testing::AssertionSuccess() << what;
  }
  return ::testing::AssertionFailure() << "accepted: no FormatError was thrown";
}

// A fresh directory for the running test: MOBILELLM_TEST_TMPDIR/<suite>.<test>.
inline std::string test_directory() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir = std::filesystem::path(MOBILELLM_TEST_TMPDIR) /
                                    (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline void write_file(const std::string& path, std::span<const std::uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Writes `bytes` as `name` in the running test's directory and maps it.
inline std::shared_ptr<const MappedFile> map_bytes(std::span<const std::uint8_t> bytes,
                                                   const std::string& name = "file.bin") {
  const std::string path = test_directory() + "/" + name;
  write_file(path, bytes);
  return MappedFile::open(path);
}

}  // namespace mobilellm::checkpoint_bytes
