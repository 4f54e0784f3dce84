// Files: read-only memory maps and atomic writes (temp file in the same folder, then rename).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

namespace mobilellm {

// A read-only mapping of a whole file. Empty files map to an empty span.
class MappedFile {
 public:
  // Throws IoError naming the path and the OS error.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  const std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  void* map_ = nullptr;
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
