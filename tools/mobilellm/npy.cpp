#include "npy.hpp"

#include "common/file.hpp"
#include "mobilellm/error.hpp"

namespace mobilellm::cli {

void write_npy_f32(const std::string& path, std::span<const float> data,
                   const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  std::string dims;
  for (auto d : shape) {
    n *= d;
    dims += std::to_string(d) + ", ";
  }
  if (n != data.size()) throw Error(ErrorCode::internal, "write_npy_f32: shape does not match data");
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // "(T, V)"; a 1-d shape keeps "(N, )"
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64,
  // ending in a newline.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const std::uint16_t hlen = static_cast<std::uint16_t>(header.size());
  AtomicFileWriter out(path);
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned char len_le[2] = {static_cast<unsigned char>(hlen & 0xff),
                                   static_cast<unsigned char>(hlen >> 8)};
  out.write(len_le, 2);
  out.write(header.data(), header.size());
  out.write(data.data(), data.size_bytes());
  out.commit();
}

}  // namespace mobilellm::cli
