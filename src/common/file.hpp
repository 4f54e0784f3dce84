// Files: read-only memory maps and atomic writes (temp file in the same folder, then rename).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <thread>

namespace mobilellm {

struct MapOptions {
  // Linux with transparent huge pages (THP) enabled, and files of at least 4 huge pages: the file
  // is mapped at a huge-page-aligned address, and start_huge_pages() starts a background thread
  // that moves the mapping onto huge pages, one huge page at a time and
  // in place: it copies the next huge-page-sized piece of the file into anonymous memory advised
  // for THP and moves that memory over the same addresses (mremap), so the bytes and addresses
  // stay the same throughout and readers on other threads never notice. Why: a model's weights
  // are streamed once per token, and on 4 KiB pages the hardware prefetchers stop at every page
  // and the TLB misses every 4 KiB. Memory: the moved pieces are anonymous (the page cache keeps
  // its copy until the kernel reclaims it); the process's resident size stays that of the file
  // plus one huge page. Where THP is off, unsupported or any step fails, the file simply stays
  // mapped as it is.
  bool huge_pages = false;
};

// A read-only mapping of a whole file. Empty files map to an empty span.
class MappedFile {
 public:
  // Throws IoError naming the path and the OS error.
  static std::shared_ptr<const MappedFile> open(const std::string& path,
                                                const MapOptions& options = {});
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  const std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }
  // Bytes of the file moved onto huge pages so far (MapOptions::huge_pages), and whether the
  // background thread has finished (or never started).
  std::uint64_t huge_page_bytes() const { return huge_bytes_.load(std::memory_order_relaxed); }
  bool huge_pages_settled() const { return !huge_running_.load(std::memory_order_acquire); }
  // Starts the move onto huge pages (MapOptions::huge_pages; once, later calls do nothing). Not
  // done by open() itself, so that the move does not compete with validating the file (its
  // mremaps hold the address-space lock that page faults need). Logically const: no byte and no
  // address changes.
  void start_huge_pages() const;

 private:
  MappedFile() = default;
  void move_to_huge_pages(std::size_t page);  // the background thread's body
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  void* map_ = nullptr;
  std::size_t huge_page_ = 0;  // the huge page size when the mapping is eligible, else 0
  mutable std::thread huge_thread_;
  mutable std::atomic<bool> huge_stop_{false}, huge_running_{false};
  std::atomic<std::uint64_t> huge_bytes_{0};
};

// Reads a whole (small) file into memory, refusing files larger than `max_bytes`.
std::string read_text_file(const std::string& path, std::uint64_t max_bytes);

bool file_exists(const std::string& path);

// Writes to "<path>.tmp.<pid>.<n>" and renames onto `path` on commit(). If the object is
// destroyed without commit() (an exception, a bug), the temp file is removed: no half-written
// output ever appears at `path`.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);  // throws IoError
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, std::size_t n);  // throws IoError
  void write_zeros(std::size_t n);
  std::uint64_t bytes_written() const { return written_; }
  void commit();  // flush, fsync, close, rename; throws IoError
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_, temp_path_;
  std::FILE* f_ = nullptr;
  std::uint64_t written_ = 0;
  bool committed_ = false;
};

}  // namespace mobilellm
