#include "common/file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "mobilellm/error.hpp"

namespace mobilellm {

namespace {
std::string os_error(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

// A small sysfs file's text, or "" when it cannot be read (sysfs files cannot be mapped).
std::string read_small(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, std::size_t(n)) : "";
}

// The size of the transparent huge pages that memory advised with MADV_HUGEPAGE may get, or 0
// when there are none (not Linux, THP compiled out or set to "never").
std::size_t transparent_huge_page_size() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const std::string enabled = read_small("/sys/kernel/mm/transparent_hugepage/enabled");
  if (enabled.find("[always]") == std::string::npos && enabled.find("[madvise]") == std::string::npos)
    return 0;
  const std::string size = read_small("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
  const unsigned long long bytes = std::strtoull(size.c_str(), nullptr, 10);
  const auto page = std::size_t(::sysconf(_SC_PAGESIZE));
  // A power of two, larger than a page, at most 1 GiB: anything else is not what we expect.
  if (bytes <= page || bytes > (1ull << 30) || (bytes & (bytes - 1)) != 0) return 0;
  return std::size_t(bytes);
#else
  return 0;
#endif
}

std::uint8_t* align_up(void* p, std::size_t align) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<std::uint8_t*>((a + align - 1) / align * align);
}

// Maps `size` bytes of `fd` read-only at an address that is a multiple of `align` (so that each
// aligned piece of the file can later be backed by one huge page). MAP_FAILED on failure.
void* map_aligned(int fd, std::size_t size, std::size_t align) {
  const std::size_t reserve = size + align;
  void* r = ::mmap(nullptr, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) return MAP_FAILED;
  std::uint8_t* at = align_up(r, align);
  void* p = ::mmap(at, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    ::munmap(r, reserve);
    return MAP_FAILED;
  }
  // Give back the reservation around the file's pages.
  const auto page = std::size_t(::sysconf(_SC_PAGESIZE));
  std::uint8_t* end = at + (size + page - 1) / page * page;
  std::uint8_t* reserve_end = static_cast<std::uint8_t*>(r) + reserve;
  if (at > r) ::munmap(r, std::size_t(at - static_cast<std::uint8_t*>(r)));
  if (reserve_end > end) ::munmap(end, std::size_t(reserve_end - end));
  return p;
}
}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path,
                                                   const MapOptions& options) {
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
  const std::size_t huge_page = options.huge_pages ? transparent_huge_page_size() : 0;
  const bool huge = huge_page != 0 && m->size_ / huge_page >= 4;
  if (m->size_ > 0) {
    void* p = huge ? map_aligned(fd, m->size_, huge_page) : MAP_FAILED;
    if (p == MAP_FAILED) p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      auto msg = os_error("cannot map", path);
      ::close(fd);
      throw IoError(msg);
    }
    m->map_ = p;
    m->data_ = static_cast<const std::uint8_t*>(p);
  }
  ::close(fd);
  if (huge && reinterpret_cast<std::uintptr_t>(m->map_) % huge_page == 0) m->huge_page_ = huge_page;
  return m;
}

void MappedFile::start_huge_pages() const {
  if (huge_page_ == 0 || huge_thread_.joinable()) return;
  huge_running_.store(true, std::memory_order_release);
  try {
    huge_thread_ = std::thread(&MappedFile::move_to_huge_pages, const_cast<MappedFile*>(this),
                               huge_page_);
  } catch (const std::system_error&) {  // no thread: the file stays mapped as it is
    huge_running_.store(false, std::memory_order_release);
  }
}

// Piece by piece, in file order: anonymous memory holding exactly one aligned huge page, advised
// for THP, filled with the piece's bytes, made read-only, and moved over the piece's addresses.
// The move replaces the file's pages by the copy atomically for other threads: a thread reading
// the piece meanwhile either still uses the file's pages or faults and waits for the move to
// finish, and finds the same bytes either way.
void MappedFile::move_to_huge_pages(std::size_t page) {
#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MREMAP_FIXED)
  auto* base = static_cast<std::uint8_t*>(map_);
  for (std::size_t i = 0; i < size_ / page && !huge_stop_.load(std::memory_order_relaxed); ++i) {
    void* raw = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) break;
    std::uint8_t* piece = align_up(raw, page);
    std::uint8_t* raw_end = static_cast<std::uint8_t*>(raw) + 2 * page;
    if (piece > raw) ::munmap(raw, std::size_t(piece - static_cast<std::uint8_t*>(raw)));
    if (raw_end > piece + page) ::munmap(piece + page, std::size_t(raw_end - (piece + page)));
    bool moved = false;
    if (::madvise(piece, page, MADV_HUGEPAGE) == 0) {
      std::memcpy(piece, base + i * page, page);
      moved = ::mprotect(piece, page, PROT_READ) == 0 &&
              ::mremap(piece, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, base + i * page) !=
                  MAP_FAILED;
    }
    if (!moved) {
      ::munmap(piece, page);
      break;
    }
    huge_bytes_.fetch_add(page, std::memory_order_relaxed);
  }
#else
  (void)page;
#endif
  huge_running_.store(false, std::memory_order_release);
}

MappedFile::~MappedFile() {
  if (huge_thread_.joinable()) {
    huge_stop_.store(true, std::memory_order_relaxed);
    huge_thread_.join();
  }
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
