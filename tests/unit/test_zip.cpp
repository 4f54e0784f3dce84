// The strict zip reader: torch.save's layouts read back exactly; lying, overlapping, compressed,
// encrypted or truncated archives rejected with a message naming the problem.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "checkpoint_bytes.hpp"
#include "convert/zip.hpp"

namespace mobilellm {
namespace {

using namespace checkpoint_bytes;
namespace zf = checkpoint_bytes::zip_field;

std::vector<ZipEntry> sample_entries() {
  return {{"archive/data.pkl", pattern(45, 1)},
          {"archive/data/0", pattern(300, 2)},
          {"archive/data/1", {}},
          {"archive/version", to_bytes("3\n")}};
}

// A layout without descriptors, padding or zip64 records: every value sits in the headers, so
// single-field patches are easy to reason about.
ZipOptions plain() {
  ZipOptions o;
  o.data_descriptor = false;
  o.alignment = 0;
  o.zip64_end_records = false;
  return o;
}

std::vector<ZipMember> read(const Bytes& bytes, bool verify_crc = true) {
  return read_zip(bytes, "test.zip", verify_crc);
}

TEST(Crc32, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32(to_bytes("123456789")), 0xcbf43926u);  // the CRC-32/ISO-HDLC check value
  EXPECT_EQ(crc32({}), 0u);
}

TEST(Crc32, AgreesWithTheBitwiseReferenceAtEveryLengthAndAlignment) {
  const Bytes data = pattern(100, 9);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length = 0; offset + length <= 40; ++length) {
      const auto s = std::span(data).subspan(offset, length);
      EXPECT_EQ(crc32(s), reference_crc32(s)) << "offset " << offset << " length " << length;
    }
  }
}

struct Layout {
  const char* name;
  ZipOptions options;
};

class ZipLayouts : public ::testing::TestWithParam<Layout> {};

TEST_P(ZipLayouts, ReadsEveryMemberBackExactly) {
  const auto entries = sample_entries();
  const ZipArchive z = build_zip(entries, GetParam().options);
  const auto members = read(z.bytes);
  ASSERT_EQ(members.size(), entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(members[i].name, entries[i].name);
    EXPECT_EQ(copy_of(members[i].data), entries[i].data);
    EXPECT_EQ(members[i].local_header_offset, z.members[i].local_header);
    EXPECT_EQ(members[i].data.data(), z.bytes.data() + z.members[i].data);
  }
}

ZipOptions with(void (*change)(ZipOptions&)) {
  ZipOptions o;
  change(o);
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ZipLayouts,
    ::testing::Values(Layout{"torch", ZipOptions{}}, Layout{"plain", plain()},
                      Layout{"zip64_extra", with([](ZipOptions& o) { o.zip64_extra = true; })},
                      Layout{"zip64_extra_no_descriptor", with([](ZipOptions& o) {
                               o.zip64_extra = true;
                               o.data_descriptor = false;
                             })},
                      Layout{"no_zip64_end_records",
                             with([](ZipOptions& o) { o.zip64_end_records = false; })},
                      Layout{"unaligned", with([](ZipOptions& o) { o.alignment = 0; })}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Zip, TorchLayoutAlignsDataTo64Bytes) {
  const ZipArchive z = build_zip(sample_entries());
  for (const ZipMember& m : read(z.bytes))
    EXPECT_EQ((m.data.data() - z.bytes.data()) % 64, 0) << m.name;
}

TEST(Zip, ReadsAnEmptyArchive) { EXPECT_TRUE(read(build_zip({}).bytes).empty()); }

TEST(Zip, AcceptsAnArchiveComment) {
  ZipArchive z = build_zip(sample_entries());
  append(z.bytes, "a comment");
  store_le(z.bytes, z.end_record + zf::end_comment_size, 9, 2);
  EXPECT_EQ(read(z.bytes).size(), 4u);
}

TEST(Zip, RejectsEveryTruncation) {
  const ZipArchive z = build_zip(sample_entries());
  for (std::size_t size = 0; size < z.bytes.size(); ++size) {
    const Bytes cut(z.bytes.begin(), z.bytes.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_TRUE(rejects([&] { read(cut); }, {"test.zip"})) << "truncated to " << size;
  }
}

TEST(Zip, RejectsSomethingThatIsNotAZip) {
  EXPECT_TRUE(rejects([&] { read(pattern(1000, 3)); }, {"end of central directory", "not found"}));
  EXPECT_TRUE(rejects([&] { read(Bytes{}); }, {"too short"}));
}

TEST(Zip, RejectsACommentLengthThatDoesNotReachTheEnd) {
  ZipArchive z = build_zip(sample_entries());
  store_le(z.bytes, z.end_record + zf::end_comment_size, 5, 2);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"end of central directory", "not found"}));
}

TEST(Zip, RejectsDeflatedMembers) {
  ZipArchive z = build_zip(sample_entries(), plain());
  store_le(z.bytes, z.members[1].central_header + zf::central_method, 8, 2);
  EXPECT_TRUE(
      rejects([&] { read(z.bytes); }, {"archive/data/0", "compression method 8 (deflate)"}));

  ZipArchive local = build_zip(sample_entries(), plain());
  store_le(local.bytes, local.members[1].local_header + zf::local_method, 8, 2);
  EXPECT_TRUE(rejects([&] { read(local.bytes); }, {"local header compression method 8"}));
}

TEST(Zip, RejectsEncryptedMembers) {
  ZipArchive z = build_zip(sample_entries());
  store_le(z.bytes, z.members[0].central_header + zf::central_flags, 0x0809, 2);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"archive/data.pkl", "encrypted"}));

  ZipArchive local = build_zip(sample_entries());
  store_le(local.bytes, local.members[0].local_header + zf::local_flags, 0x0809, 2);
  EXPECT_TRUE(rejects([&] { read(local.bytes); }, {"local header", "encrypted"}));
}

TEST(Zip, RejectsUnknownFlags) {
  ZipArchive z = build_zip(sample_entries());
  store_le(z.bytes, z.members[2].central_header + zf::central_flags, 0x0808 | 0x40, 2);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"flags 0x0848"}));
}

TEST(Zip, RejectsFlagsThatDisagreeOnTheDataDescriptor) {
  ZipArchive z = build_zip(sample_entries());
  store_le(z.bytes, z.members[1].local_header + zf::local_flags, 0x0800, 2);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"disagree on the data descriptor"}));
}

TEST(Zip, RejectsDuplicateMembers) {
  auto entries = sample_entries();
  entries.push_back({"archive/data/0", pattern(10, 4)});
  EXPECT_TRUE(
      rejects([&] { read(build_zip(entries).bytes); }, {"archive/data/0", "appears twice"}));
}

TEST(Zip, RejectsBadMemberNames) {
  for (const std::string& name : {std::string("a\0b", 3), std::string("\xff\xfe"), std::string()}) {
    const ZipArchive z = build_zip({{name, pattern(4, 1)}});
    EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"central directory entry 0", "member name"}));
  }
}

TEST(Zip, RejectsALocalNameThatDiffersFromTheCentralOne) {
  ZipArchive z = build_zip(sample_entries());
  z.bytes[z.members[3].local_header + zf::local_name + 8] = 'V';  // archive/Version
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"the local header names it 'archive/Version'"}));
}

TEST(Zip, RejectsALyingSizeThatMakesMembersOverlap) {
  // Member 0 claims its data runs 40 bytes further, over member 1's local header; every record
  // is made consistent with the lie (CRC included) so only the overlap gives it away.
  ZipArchive z = build_zip(sample_entries(), plain());
  const std::uint64_t size = sample_entries()[0].data.size() + 40;
  const std::uint32_t crc = reference_crc32(std::span(z.bytes).subspan(z.members[0].data, size));
  for (const std::uint64_t field : {zf::local_compressed, zf::local_uncompressed})
    store_le(z.bytes, z.members[0].local_header + field, size, 4);
  for (const std::uint64_t field : {zf::central_compressed, zf::central_uncompressed})
    store_le(z.bytes, z.members[0].central_header + field, size, 4);
  store_le(z.bytes, z.members[0].local_header + zf::local_crc, crc, 4);
  store_le(z.bytes, z.members[0].central_header + zf::central_crc, crc, 4);
  EXPECT_TRUE(rejects([&] { read(z.bytes); },
                      {"archive/data/0", "starts inside member 'archive/data.pkl'"}));
}

TEST(Zip, RejectsDataRunningIntoTheCentralDirectory) {
  ZipArchive z = build_zip(sample_entries(), plain());
  const std::uint64_t size = z.central_directory - z.members[3].data + 1;
  for (const std::uint64_t field : {zf::local_compressed, zf::local_uncompressed})
    store_le(z.bytes, z.members[3].local_header + field, size, 4);
  for (const std::uint64_t field : {zf::central_compressed, zf::central_uncompressed})
    store_le(z.bytes, z.members[3].central_header + field, size, 4);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"run past the start of the central directory"}));
}

TEST(Zip, RejectsALocalHeaderOffsetOutsideTheMemberArea) {
  ZipArchive z = build_zip(sample_entries());
  store_le(z.bytes, z.members[2].central_header + zf::central_local_offset, z.central_directory, 4);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"is not before the central directory"}));

  ZipArchive shifted = build_zip(sample_entries());
  store_le(shifted.bytes, shifted.members[2].central_header + zf::central_local_offset,
           shifted.members[2].local_header + 1, 4);
  EXPECT_TRUE(rejects([&] { read(shifted.bytes); }, {"no local header signature"}));
}

TEST(Zip, RejectsLocalValuesThatContradictTheCentralDirectory) {
  ZipArchive z = build_zip(sample_entries(), plain());
  store_le(z.bytes, z.members[1].local_header + zf::local_uncompressed, 299, 4);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"local header says", "size 300"}));
}

TEST(Zip, RejectsCompressedAndUncompressedSizesThatDiffer) {
  ZipArchive z = build_zip(sample_entries(), plain());
  store_le(z.bytes, z.members[1].central_header + zf::central_uncompressed, 301, 4);
  EXPECT_TRUE(
      rejects([&] { read(z.bytes); }, {"compressed size 300 differs from uncompressed size 301"}));
}

TEST(Zip, RejectsABadDataDescriptor) {
  ZipArchive z = build_zip(sample_entries());
  store_le(z.bytes, *z.members[1].descriptor + zf::descriptor_crc, 0x12345678, 4);
  EXPECT_TRUE(
      rejects([&] { read(z.bytes); }, {"archive/data/0': data descriptor", "CRC 0x12345678"}));

  ZipArchive unsigned_descriptor = build_zip(sample_entries());
  store_le(unsigned_descriptor.bytes, *unsigned_descriptor.members[1].descriptor, 0, 4);
  EXPECT_TRUE(rejects([&] { read(unsigned_descriptor.bytes); }, {"missing its signature"}));
}

TEST(Zip, ChecksTheCrcOnlyWhenAsked) {
  ZipArchive z = build_zip(sample_entries());
  z.bytes[z.members[1].data + 17] ^= 1;
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"archive/data/0", "CRC-32 of the data"}));
  EXPECT_EQ(read(z.bytes, /*verify_crc=*/false).size(), 4u);
}

TEST(Zip, RejectsEndRecordsThatLie) {
  ZipArchive size = build_zip(sample_entries(), plain());
  store_le(size.bytes, size.end_record + zf::end_directory_size, size.central_directory_size + 1,
           4);
  EXPECT_TRUE(rejects([&] { read(size.bytes); }, {"does not end where the end records begin"}));

  ZipArchive many = build_zip(sample_entries(), plain());
  store_le(many.bytes, many.end_record + zf::end_entries, 1000, 2);
  store_le(many.bytes, many.end_record + zf::end_entries_on_disk, 1000, 2);
  EXPECT_TRUE(rejects([&] { read(many.bytes); }, {"1000 entries cannot fit"}));

  ZipArchive few = build_zip(sample_entries(), plain());
  store_le(few.bytes, few.end_record + zf::end_entries, 3, 2);
  store_le(few.bytes, few.end_record + zf::end_entries_on_disk, 3, 2);
  EXPECT_TRUE(rejects([&] { read(few.bytes); }, {"bytes follow the last of its 3 entries"}));

  ZipArchive disk = build_zip(sample_entries());
  store_le(disk.bytes, disk.end_record + zf::end_disk, 1, 2);
  EXPECT_TRUE(rejects([&] { read(disk.bytes); }, {"multi-disk"}));
}

TEST(Zip, RejectsZip64RecordsThatLie) {
  ZipArchive disagree = build_zip(sample_entries());
  store_le(disagree.bytes, *disagree.zip64_end_record + zf::zip64_end_directory_size,
           disagree.central_directory_size - 1, 8);
  EXPECT_TRUE(rejects([&] { read(disagree.bytes); }, {"the zip64 end record says"}));

  ZipArchive locator = build_zip(sample_entries());
  store_le(locator.bytes, *locator.zip64_locator + zf::zip64_locator_offset,
           *locator.zip64_end_record - 8, 8);
  EXPECT_TRUE(rejects([&] { read(locator.bytes); }, {"no zip64 end record signature"}));

  ZipArchive beyond = build_zip(sample_entries());
  store_le(beyond.bytes, *beyond.zip64_locator + zf::zip64_locator_offset, ~std::uint64_t{0}, 8);
  EXPECT_TRUE(rejects([&] { read(beyond.bytes); }, {"zip64 locator", "does not leave room"}));

  ZipArchive disks = build_zip(sample_entries());
  store_le(disks.bytes, *disks.zip64_locator + zf::zip64_locator_disks, 2, 4);
  EXPECT_TRUE(rejects([&] { read(disks.bytes); }, {"multi-disk"}));

  ZipArchive record_size = build_zip(sample_entries());
  store_le(record_size.bytes, *record_size.zip64_end_record + zf::zip64_end_record_size, 45, 8);
  EXPECT_TRUE(rejects([&] { read(record_size.bytes); }, {"does not reach the locator"}));
}

TEST(Zip, RejectsAZip64MarkerWithoutAZip64Field) {
  ZipArchive z = build_zip(sample_entries(), plain());
  store_le(z.bytes, z.members[1].central_header + zf::central_local_offset, 0xffffffff, 4);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"no zip64 extra field"}));
}

TEST(Zip, RejectsATruncatedZip64Field) {
  ZipOptions o;
  o.zip64_extra = true;
  ZipArchive z = build_zip(sample_entries(), o);
  // The central zip64 field holds three values; claim the disk number is in it too.
  store_le(z.bytes, z.members[0].central_header + zf::central_disk, 0xffff, 2);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"zip64 extra field", "truncated"}));
}

TEST(Zip, RejectsMalformedExtraFields) {
  ZipArchive z = build_zip(sample_entries());
  // The "FB" padding record of member 1 claims more bytes than the extra area holds.
  const std::uint64_t record = z.members[1].local_header + zf::local_name + 14;  // "archive/data/0"
  ASSERT_EQ(load_le(z.bytes, record, 2), 0x4246u);
  store_le(z.bytes, record + 2, load_le(z.bytes, record + 2, 2) + 1, 2);
  EXPECT_TRUE(rejects([&] { read(z.bytes); }, {"archive/data/0': extra field", "truncated"}));
}

}  // namespace
}  // namespace mobilellm
