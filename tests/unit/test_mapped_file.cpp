// MappedFile's move onto transparent huge pages (MapOptions::huge_pages, start_huge_pages()): the
// bytes never change, not even for a thread reading them while the pieces are moved, the whole
// huge pages of the file are moved, small files and huge_pages = false are left alone, and
// destroying the mapping in the middle of the move stops it cleanly (the ASan and TSan stages run these tests too).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/file.hpp"
#include "model_builder.hpp"

namespace mobilellm {
namespace {

// The huge page size THP would give advised memory here, or 0 (the kernel says "never", or this
// is not Linux).
std::size_t thp_size() {
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(enabled, line);
  if (line.find("[always]") == std::string::npos && line.find("[madvise]") == std::string::npos)
    return 0;
  std::ifstream size("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
  std::size_t bytes = 0;
  size >> bytes;
  return bytes;
}

// A file of `size` bytes of a seeded pseudo-random pattern; returns the pattern.
std::vector<std::uint8_t> write_pattern(const std::string& path, std::size_t size,
                                        std::uint32_t seed) {
  std::vector<std::uint8_t> bytes(size);
  std::mt19937 rng(seed);
  for (auto& b : bytes) b = std::uint8_t(rng());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr) << path;
  if (f) {
    EXPECT_EQ(std::fwrite(bytes.data(), 1, size, f), size);
    std::fclose(f);
  }
  return bytes;
}

bool settle(const MappedFile& m) {
  const auto t0 = std::chrono::steady_clock::now();
  while (!m.huge_pages_settled()) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(60)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(MappedFileHugePages, BytesStayTheSameWhileAReaderRunsAndWholePagesMove) {
  const std::size_t page = thp_size();
  if (page == 0) GTEST_SKIP() << "transparent huge pages are off on this machine";
  // 5.5 huge pages: five move, the last half page stays mapped from the file.
  const std::size_t size = 5 * page + page / 2;
  const std::string path = test::tmp_path("huge_pages.bin");
  const auto expect = write_pattern(path, size, 7);
  auto m = MappedFile::open(path, MapOptions{true});
  ASSERT_EQ(m->size(), size);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m->data()) % page, 0u) << "mapped huge-page-aligned";
  EXPECT_TRUE(m->huge_pages_settled()) << "nothing moves before start_huge_pages()";
  EXPECT_EQ(m->huge_page_bytes(), 0u);

  // A reader compares the mapping with the pattern, over and over, until the move has finished.
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> passes{0}, mismatches{0};
  std::thread reader([&] {
    while (!done.load()) {
      for (std::size_t i = 0; i < size; i += 4093)  // a prime stride touches every 4 KiB page
        if (m->data()[i] != expect[i]) mismatches.fetch_add(1);
      passes.fetch_add(1);
    }
  });
  m->start_huge_pages();
  m->start_huge_pages();  // a second call does nothing
  const bool settled = settle(*m);
  done = true;
  reader.join();
  ASSERT_TRUE(settled) << "the move did not finish within 60 s";
  EXPECT_EQ(mismatches.load(), 0u) << "over " << passes.load() << " reading passes";
  EXPECT_EQ(m->huge_page_bytes(), 5 * page);
  EXPECT_EQ(std::memcmp(m->data(), expect.data(), size), 0);
  std::printf("moved %llu bytes; %llu reading passes during the move\n",
              static_cast<unsigned long long>(m->huge_page_bytes()),
              static_cast<unsigned long long>(passes.load()));
}

TEST(MappedFileHugePages, OffOrSmallFilesAreLeftAlone) {
  const std::size_t page = thp_size() ? thp_size() : (std::size_t(2) << 20);
  const std::string big = test::tmp_path("huge_pages_off.bin");
  const auto expect = write_pattern(big, 4 * page, 8);
  auto off = MappedFile::open(big);  // huge_pages defaults to false
  off->start_huge_pages();
  EXPECT_TRUE(off->huge_pages_settled());
  EXPECT_EQ(off->huge_page_bytes(), 0u);
  EXPECT_EQ(std::memcmp(off->data(), expect.data(), expect.size()), 0);

  const std::string small = test::tmp_path("huge_pages_small.bin");
  const auto small_bytes = write_pattern(small, 4 * page - 1, 9);  // fewer than 4 huge pages
  auto s = MappedFile::open(small, MapOptions{true});
  s->start_huge_pages();
  EXPECT_TRUE(s->huge_pages_settled());
  EXPECT_EQ(s->huge_page_bytes(), 0u);
  EXPECT_EQ(std::memcmp(s->data(), small_bytes.data(), small_bytes.size()), 0);
}

TEST(MappedFileHugePages, ClosingDuringTheMoveStopsIt) {
  const std::size_t page = thp_size();
  if (page == 0) GTEST_SKIP() << "transparent huge pages are off on this machine";
  const std::string path = test::tmp_path("huge_pages_close.bin");
  const auto expect = write_pattern(path, 16 * page, 10);
  for (int i = 0; i < 5; ++i) {
    auto m = MappedFile::open(path, MapOptions{true});
    m->start_huge_pages();
    EXPECT_EQ(m->data()[i * 12345], expect[i * 12345]);
    m.reset();  // joins the mover wherever it is; ASan sees any use after unmap
  }
}

}  // namespace
}  // namespace mobilellm
