// Strict zip reader for torch.save archives. Record layouts follow PKWARE's APPNOTE.TXT (4.3);
// see zip.hpp for the rules enforced.
#include "convert/zip.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "common/byte_reader.hpp"
#include "common/checked.hpp"
#include "common/utf8.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm {
namespace {

constexpr std::uint32_t kLocalHeaderSignature = 0x04034b50;     // "PK\3\4"
constexpr std::uint32_t kCentralHeaderSignature = 0x02014b50;   // "PK\1\2"
constexpr std::uint32_t kDataDescriptorSignature = 0x08074b50;  // "PK\7\8"
constexpr std::uint32_t kEndRecordSignature = 0x06054b50;       // "PK\5\6"
constexpr std::uint32_t kZip64EndRecordSignature = 0x06064b50;  // "PK\6\6"
constexpr std::uint32_t kZip64LocatorSignature = 0x07064b50;    // "PK\6\7"

// Fixed sizes of the records, without their variable-length tails.
constexpr std::uint64_t kLocalHeaderSize = 30;
constexpr std::uint64_t kCentralHeaderSize = 46;
constexpr std::uint64_t kEndRecordSize = 22;
constexpr std::uint64_t kZip64LocatorSize = 20;
constexpr std::uint64_t kZip64EndRecordSize = 56;
// The zip64 end record's "size" field counts the bytes after itself (signature and size: 12).
constexpr std::uint64_t kZip64EndRecordLead = 12;
constexpr std::uint64_t kMaxCommentSize = 0xffff;

constexpr std::uint16_t kFlagEncrypted = 1u << 0;
constexpr std::uint16_t kFlagDataDescriptor = 1u << 3;
constexpr std::uint16_t kFlagUtf8Names = 1u << 11;
constexpr std::uint16_t kAllowedFlags = kFlagDataDescriptor | kFlagUtf8Names;

constexpr std::uint16_t kMethodStored = 0;
constexpr std::uint16_t kZip64ExtraId = 0x0001;
// A classic field holding its all-ones value means "the value is in the zip64 record".
constexpr std::uint32_t kZip64Marker32 = 0xffffffff;
constexpr std::uint16_t kZip64Marker16 = 0xffff;

constexpr const char* kEndRecordField = "end of central directory";
constexpr const char* kZip64EndRecordField = "zip64 end of central directory";

std::uint16_t load_le16(std::span<const std::uint8_t> b, std::uint64_t pos) {
  std::uint16_t v;
  std::memcpy(&v, b.data() + pos, sizeof v);
  return v;
}

std::uint32_t load_le32(std::span<const std::uint8_t> b, std::uint64_t pos) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + pos, sizeof v);
  return v;
}

// Slicing-by-8 tables: kCrcTables[0] is the classic byte table, kCrcTables[k][b] advances the
// CRC of byte b by k further zero bytes, so eight input bytes are folded in per step.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xedb88320u : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}
constexpr auto kCrcTables = make_crc_tables();

std::string member_field(std::string_view name) { return "member '" + printable(name) + "'"; }

std::string method_detail(std::uint16_t method) {
  const char* what = method == 8    ? " (deflate)"
                     : method == 12 ? " (bzip2)"
                     : method == 14 ? " (lzma)"
                                    : "";
  return fmt::format("compression method {}{} is not supported: members must be stored (method 0)",
                     method, what);
}

std::string flags_detail(std::uint16_t flags) {
  if (flags & kFlagEncrypted)
    return fmt::format("flags {:#06x}: encrypted members are not supported", flags);
  return fmt::format("flags {:#06x} set bits other than 3 (data descriptor) and 11 (UTF-8 names)",
                     flags);
}

// Where the central directory is, from the end records.
struct Directory {
  std::uint64_t entries = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// The end record is the last "PK\5\6" whose comment length reaches exactly the end of the file.
std::uint64_t find_end_record(std::span<const std::uint8_t> bytes, const std::string& file) {
  if (bytes.size() < kEndRecordSize)
    throw FormatError(
        file, kEndRecordField,
        fmt::format("the file is {} bytes, too short for a zip archive", bytes.size()), 0);
  const std::uint64_t last = bytes.size() - kEndRecordSize;
  const std::uint64_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
  for (std::uint64_t pos = last + 1; pos-- > first;) {
    if (load_le32(bytes, pos) == kEndRecordSignature && load_le16(bytes, pos + 20) == last - pos)
      return pos;
  }
  throw FormatError(file, kEndRecordField, "not found (not a zip archive, or a truncated one)",
                    bytes.size());
}

// A classic end-record field either holds its zip64 marker or agrees with the zip64 record.
std::uint64_t reconcile(std::uint64_t classic, std::uint64_t marker, std::uint64_t zip64,
                        const char* what, const ByteReader& r) {
  if (classic != marker && classic != zip64)
    r.fail(kEndRecordField,
           fmt::format("{} is {} but the zip64 end record says {}", what, classic, zip64));
  return zip64;
}

Directory read_end_records(std::span<const std::uint8_t> bytes, const std::string& file) {
  const std::uint64_t end_record = find_end_record(bytes, file);
  ByteReader r(bytes, file);
  r.seek(end_record + 4, kEndRecordField);
  const std::uint16_t disk = r.u16("end of central directory: disk number");
  const std::uint16_t directory_disk = r.u16("end of central directory: directory disk");
  const std::uint16_t entries_on_disk = r.u16("end of central directory: entries on disk");
  const std::uint16_t entries = r.u16("end of central directory: entries");
  const std::uint32_t size = r.u32("end of central directory: directory size");
  const std::uint32_t offset = r.u32("end of central directory: directory offset");
  if (disk != 0 || directory_disk != 0 || entries_on_disk != entries)
    throw FormatError(file, kEndRecordField,
                      fmt::format("multi-disk archives are not supported (disk {}, directory on "
                                  "disk {}, {} of {} entries on this disk)",
                                  disk, directory_disk, entries_on_disk, entries),
                      end_record);

  Directory dir{entries, offset, size};
  std::uint64_t records_begin = end_record;  // where the central directory must end
  const bool has_locator =
      end_record >= kZip64LocatorSize &&
      load_le32(bytes, end_record - kZip64LocatorSize) == kZip64LocatorSignature;
  if (has_locator) {
    const std::uint64_t locator = end_record - kZip64LocatorSize;
    r.seek(locator + 4, "zip64 locator");
    const std::uint32_t record_disk = r.u32("zip64 locator: disk");
    const std::uint64_t record = r.u64("zip64 locator: record offset");
    const std::uint32_t disks = r.u32("zip64 locator: disk count");
    if (record_disk != 0 || disks != 1)
      r.fail("zip64 locator", fmt::format("multi-disk archives are not supported (record on disk "
                                          "{}, {} disks)",
                                          record_disk, disks));
    if (!extent_within(record, kZip64EndRecordSize, locator))
      r.fail("zip64 locator", fmt::format("the zip64 end record offset {} does not leave room for "
                                          "the record before the locator at {}",
                                          record, locator));
    r.seek(record, kZip64EndRecordField);
    if (r.u32(kZip64EndRecordField) != kZip64EndRecordSignature)
      r.fail(kZip64EndRecordField, fmt::format("no zip64 end record signature at offset {} (where "
                                               "the locator points)",
                                               record));
    const std::uint64_t record_size = r.u64("zip64 end of central directory: record size");
    if (record_size != locator - record - kZip64EndRecordLead)
      r.fail(kZip64EndRecordField,
             fmt::format("record size {} does not reach the locator ({} bytes away)", record_size,
                         locator - record - kZip64EndRecordLead));
    r.skip(4, "zip64 end of central directory: versions");
    const std::uint32_t disk64 = r.u32("zip64 end of central directory: disk number");
    const std::uint32_t directory_disk64 = r.u32("zip64 end of central directory: directory disk");
    const std::uint64_t entries_on_disk64 =
        r.u64("zip64 end of central directory: entries on disk");
    const std::uint64_t entries64 = r.u64("zip64 end of central directory: entries");
    const std::uint64_t size64 = r.u64("zip64 end of central directory: directory size");
    const std::uint64_t offset64 = r.u64("zip64 end of central directory: directory offset");
    if (disk64 != 0 || directory_disk64 != 0 || entries_on_disk64 != entries64)
      r.fail(kZip64EndRecordField,
             fmt::format("multi-disk archives are not supported (disk {}, directory on disk {}, "
                         "{} of {} entries on this disk)",
                         disk64, directory_disk64, entries_on_disk64, entries64));
    r.seek(end_record, kEndRecordField);
    dir.entries = reconcile(entries, kZip64Marker16, entries64, "the entry count", r);
    dir.size = reconcile(size, kZip64Marker32, size64, "the directory size", r);
    dir.offset = reconcile(offset, kZip64Marker32, offset64, "the directory offset", r);
    records_begin = record;
  }
  if (dir.offset > records_begin || dir.size != records_begin - dir.offset)
    throw FormatError(file, kEndRecordField,
                      fmt::format("the central directory (offset {}, {} bytes) does not end where "
                                  "the end records begin (offset {})",
                                  dir.offset, dir.size, records_begin),
                      end_record);
  // Bounds the allocation below: each entry takes at least a fixed-size header.
  if (dir.entries > dir.size / kCentralHeaderSize)
    throw FormatError(file, kEndRecordField,
                      fmt::format("{} entries cannot fit in a central directory of {} bytes",
                                  dir.entries, dir.size),
                      end_record);
  return dir;
}

// The payload of extra field `id` (and its absolute offset), after checking that the extra
// records (id u16, size u16, payload) tile `extra` exactly and that `id` appears at most once.
struct ExtraField {
  std::span<const std::uint8_t> payload;
  std::uint64_t offset = 0;
};

std::optional<ExtraField> find_extra_field(std::span<const std::uint8_t> extra,
                                           std::uint64_t extra_offset, std::uint16_t id,
                                           const std::string& file, const std::string& field) {
  ByteReader r(extra, file, extra_offset);
  const std::string what = field + ": extra field";
  std::optional<ExtraField> found;
  while (!r.at_end()) {
    const std::uint16_t record_id = r.u16(what);
    const std::uint16_t size = r.u16(what);
    const std::uint64_t payload_offset = r.offset();
    const auto payload = r.bytes(size, what);
    if (record_id != id) continue;
    if (found)
      throw FormatError(file, field, fmt::format("extra field {:#06x} appears twice", id),
                        payload_offset - 4);
    found = ExtraField{payload, payload_offset};
  }
  return found;
}

// A central-directory entry, zip64 values resolved.
struct Entry {
  std::string name;
  std::uint16_t flags = 0;
  std::uint32_t crc = 0;
  std::uint64_t size = 0;  // stored members: compressed size == uncompressed size
  std::uint64_t local_offset = 0;
  std::uint64_t central_offset = 0;
};

Entry read_central_entry(ByteReader& r, std::size_t index) {
  const std::string field = fmt::format("central directory entry {}", index);
  Entry e;
  e.central_offset = r.offset();
  if (r.u32(field) != kCentralHeaderSignature)
    throw FormatError(r.file(), field, "no central directory header signature", e.central_offset);
  r.skip(4, field);  // versions made by / needed
  e.flags = r.u16(field);
  const std::uint16_t method = r.u16(field);
  r.skip(4, field);  // modification time and date
  e.crc = r.u32(field);
  const std::uint32_t compressed32 = r.u32(field);
  const std::uint32_t uncompressed32 = r.u32(field);
  const std::uint16_t name_size = r.u16(field);
  const std::uint16_t extra_size = r.u16(field);
  const std::uint16_t comment_size = r.u16(field);
  const std::uint16_t disk16 = r.u16(field);
  r.skip(6, field);  // internal and external attributes
  const std::uint32_t local32 = r.u32(field);
  const auto name = r.bytes(name_size, field + ": name");
  const std::uint64_t extra_offset = r.offset();
  const auto extra = r.bytes(extra_size, field + ": extra fields");
  r.skip(comment_size, field + ": comment");

  e.name.assign(name.begin(), name.end());
  if (e.name.empty() || !is_valid_name(e.name))
    throw FormatError(
        r.file(), field,
        "member name '" + printable(e.name) + "' is empty, not valid UTF-8, or contains NUL",
        e.central_offset);
  const std::string mfield = member_field(e.name);
  if (e.flags & ~kAllowedFlags)
    throw FormatError(r.file(), mfield, flags_detail(e.flags), e.central_offset);
  if (method != kMethodStored)
    throw FormatError(r.file(), mfield, method_detail(method), e.central_offset);

  const auto zip64 = find_extra_field(extra, extra_offset, kZip64ExtraId, r.file(), mfield);
  std::uint64_t compressed = compressed32, uncompressed = uncompressed32, local = local32,
                disk = disk16;
  if (uncompressed32 == kZip64Marker32 || compressed32 == kZip64Marker32 ||
      local32 == kZip64Marker32 || disk16 == kZip64Marker16) {
    if (!zip64)
      throw FormatError(r.file(), mfield,
                        "a size, offset or disk field holds its zip64 marker but there is no "
                        "zip64 extra field",
                        e.central_offset);
    // The zip64 field holds, in this order, only the values whose classic field is the marker.
    ByteReader z(zip64->payload, r.file(), zip64->offset);
    const std::string zfield = mfield + ": zip64 extra field";
    if (uncompressed32 == kZip64Marker32) uncompressed = z.u64(zfield);
    if (compressed32 == kZip64Marker32) compressed = z.u64(zfield);
    if (local32 == kZip64Marker32) local = z.u64(zfield);
    if (disk16 == kZip64Marker16) disk = z.u32(zfield);
  }
  if (disk != 0)
    throw FormatError(r.file(), mfield,
                      fmt::format("starts on disk {}: multi-disk archives are not supported", disk),
                      e.central_offset);
  if (compressed != uncompressed)
    throw FormatError(r.file(), mfield,
                      fmt::format("compressed size {} differs from uncompressed size {} in a "
                                  "stored member",
                                  compressed, uncompressed),
                      e.central_offset);
  e.size = uncompressed;
  e.local_offset = local;
  return e;
}

// Reads and checks the local header, data and data descriptor of `e`, all of which must lie in
// `before_directory`. Returns the member and sets `end` to the offset just past it.
ZipMember read_local_member(std::span<const std::uint8_t> before_directory, const Entry& e,
                            const std::string& file, std::uint64_t& end) {
  const std::string field = member_field(e.name);
  if (!extent_within(e.local_offset, kLocalHeaderSize, before_directory.size()))
    throw FormatError(file, field,
                      fmt::format("local header offset {} is not before the central directory "
                                  "(offset {})",
                                  e.local_offset, before_directory.size()),
                      e.central_offset);
  ByteReader r(before_directory, file);
  r.seek(e.local_offset, field);
  if (r.u32(field) != kLocalHeaderSignature)
    throw FormatError(file, field, "no local header signature", e.local_offset);
  r.skip(2, field);  // version needed
  const std::uint16_t flags = r.u16(field);
  const std::uint16_t method = r.u16(field);
  r.skip(4, field);  // modification time and date
  const std::uint32_t crc = r.u32(field);
  const std::uint32_t compressed32 = r.u32(field);
  const std::uint32_t uncompressed32 = r.u32(field);
  const std::uint16_t name_size = r.u16(field);
  const std::uint16_t extra_size = r.u16(field);
  const auto name = r.bytes(name_size, field + ": local name");
  const std::uint64_t extra_offset = r.offset();
  const auto extra = r.bytes(extra_size, field + ": local extra fields");

  if (flags & ~kAllowedFlags)
    throw FormatError(file, field, "local header " + flags_detail(flags), e.local_offset);
  if ((flags ^ e.flags) & kFlagDataDescriptor)
    throw FormatError(file, field,
                      fmt::format("local flags {:#06x} and central flags {:#06x} disagree on the "
                                  "data descriptor (bit 3)",
                                  flags, e.flags),
                      e.local_offset);
  if (method != kMethodStored)
    throw FormatError(file, field, "local header " + method_detail(method), e.local_offset);
  if (std::string_view(reinterpret_cast<const char*>(name.data()), name.size()) != e.name)
    throw FormatError(
        file, field,
        "the local header names it '" +
            printable(std::string_view(reinterpret_cast<const char*>(name.data()), name.size())) +
            "'",
        e.local_offset);

  const auto zip64 = find_extra_field(extra, extra_offset, kZip64ExtraId, file, field);
  std::uint64_t compressed = compressed32, uncompressed = uncompressed32;
  if (uncompressed32 == kZip64Marker32 || compressed32 == kZip64Marker32) {
    if (!zip64)
      throw FormatError(file, field,
                        "local sizes hold the zip64 marker but there is no zip64 extra field",
                        e.local_offset);
    // In a local header the zip64 field holds both sizes, uncompressed first.
    ByteReader z(zip64->payload, file, zip64->offset);
    uncompressed = z.u64(field + ": local zip64 extra field");
    compressed = z.u64(field + ": local zip64 extra field");
  }
  const bool deferred = flags & kFlagDataDescriptor;
  const bool zeroed = crc == 0 && compressed == 0 && uncompressed == 0;
  if (!(deferred && zeroed) && (crc != e.crc || compressed != e.size || uncompressed != e.size))
    throw FormatError(file, field,
                      fmt::format("local header says CRC {:#010x}, sizes {}/{}; the central "
                                  "directory says CRC {:#010x}, size {}",
                                  crc, compressed, uncompressed, e.crc, e.size),
                      e.local_offset);

  const std::uint64_t data_offset = r.offset();
  if (!extent_within(data_offset, e.size, before_directory.size()))
    throw FormatError(file, field,
                      fmt::format("its {} bytes of data run past the start of the central "
                                  "directory (offset {})",
                                  e.size, before_directory.size()),
                      data_offset);
  ZipMember m{e.name, r.bytes(e.size, field), e.local_offset};

  if (deferred) {
    // torch.save always writes the descriptor's (formally optional) signature; requiring it
    // keeps the layout unambiguous. Sizes are 8 bytes wide when the local header went zip64.
    const std::string dfield = field + ": data descriptor";
    const std::uint64_t at = r.offset();
    if (r.u32(dfield) != kDataDescriptorSignature)
      throw FormatError(file, dfield, "missing its signature after the data", at);
    const std::uint32_t dcrc = r.u32(dfield);
    const std::uint64_t dcompressed = zip64 ? r.u64(dfield) : r.u32(dfield);
    const std::uint64_t duncompressed = zip64 ? r.u64(dfield) : r.u32(dfield);
    if (dcrc != e.crc || dcompressed != e.size || duncompressed != e.size)
      throw FormatError(file, dfield,
                        fmt::format("says CRC {:#010x}, sizes {}/{}; the central directory says "
                                    "CRC {:#010x}, size {}",
                                    dcrc, dcompressed, duncompressed, e.crc, e.size),
                        at);
  }
  end = r.offset();
  return m;
}

}  // namespace

std::uint32_t crc32(std::span<const std::uint8_t> bytes) {
  const auto& t = kCrcTables;
  std::uint32_t c = 0xffffffffu;
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);  // little-endian loads, as on every target we support
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
        t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ *p) & 0xff] ^ (c >> 8);
  return ~c;
}

std::vector<ZipMember> read_zip(std::span<const std::uint8_t> bytes, const std::string& file,
                                bool verify_crc) {
  const Directory dir = read_end_records(bytes, file);

  std::vector<Entry> entries;
  entries.reserve(dir.entries);
  std::unordered_set<std::string> names;
  ByteReader r(bytes.first(dir.offset + dir.size), file);
  r.seek(dir.offset, "central directory");
  for (std::uint64_t i = 0; i < dir.entries; ++i) {
    entries.push_back(read_central_entry(r, i));
    if (!names.insert(entries.back().name).second)
      throw FormatError(file, member_field(entries.back().name), "appears twice in the archive",
                        entries.back().central_offset);
  }
  if (!r.at_end())
    throw FormatError(
        file, "central directory",
        fmt::format("{} bytes follow the last of its {} entries", r.remaining(), dir.entries),
        r.offset());

  // Member extents [local header, end of data or descriptor), to rule out overlaps.
  struct Extent {
    std::uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Extent> extents;
  extents.reserve(entries.size());
  std::vector<ZipMember> members;
  members.reserve(entries.size());
  const auto before_directory = bytes.first(dir.offset);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::uint64_t end = 0;
    members.push_back(read_local_member(before_directory, entries[i], file, end));
    extents.push_back({entries[i].local_offset, end, i});
  }
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < extents.size(); ++i) {
    const Extent& prev = extents[i - 1];
    const Extent& cur = extents[i];
    if (cur.begin < prev.end)
      throw FormatError(file, member_field(entries[cur.index].name),
                        fmt::format("starts inside member '{}' (offsets {}..{})",
                                    printable(entries[prev.index].name), prev.begin, prev.end),
                        cur.begin);
  }

  if (verify_crc) {
    for (std::size_t i = 0; i < members.size(); ++i) {
      const std::uint32_t actual = crc32(members[i].data);
      if (actual != entries[i].crc)
        throw FormatError(file, member_field(entries[i].name),
                          fmt::format("CRC-32 of the data is {:#010x}, the archive says {:#010x}",
                                      actual, entries[i].crc),
                          static_cast<std::uint64_t>(members[i].data.data() - bytes.data()));
    }
  }
  return members;
}

}  // namespace mobilellm
