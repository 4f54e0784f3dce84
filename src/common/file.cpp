#include "common/file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "mobilellm/error.hpp"

namespace mobilellm {

namespace {
std::string os_error(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}
}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(os_error("cannot open", path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto msg = os_error("cannot stat", path);
    ::close(fd);
    throw IoError(msg);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<std::size_t>(st.st_size);
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      auto msg = os_error("cannot map", path);
      ::close(fd);
      throw IoError(msg);
    }
    m->map_ = p;
    m->data_ = static_cast<const std::uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(map_, size_);
}

std::string read_text_file(const std::string& path, std::uint64_t max_bytes) {
  auto m = MappedFile::open(path);
  if (m->size() > max_bytes)
    throw FormatError(path, "(file)", "is " + std::to_string(m->size()) +
                                          " bytes, more than the limit of " +
                                          std::to_string(max_bytes));
  return std::string(reinterpret_cast<const char*>(m->data()), m->size());
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  static std::atomic<unsigned> counter{0};
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(os_error("cannot create", temp_path_));
  f_ = ::fdopen(fd, "wb");
  if (!f_) {
    auto msg = os_error("cannot open", temp_path_);
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw IoError(msg);
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (f_) std::fclose(f_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::write(const void* data, std::size_t n) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, f_) != n) throw IoError(os_error("write failed", temp_path_));
  written_ += n;
}

void AtomicFileWriter::write_zeros(std::size_t n) {
  static const char zeros[256] = {};
  while (n > 0) {
    std::size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    write(zeros, k);
    n -= k;
  }
}

void AtomicFileWriter::commit() {
  if (std::fflush(f_) != 0) throw IoError(os_error("flush failed", temp_path_));
  if (::fsync(::fileno(f_)) != 0) throw IoError(os_error("fsync failed", temp_path_));
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) throw IoError(os_error("close failed", temp_path_));
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw IoError(os_error("cannot rename " + temp_path_ + " to", path_));
  committed_ = true;
}

}  // namespace mobilellm
