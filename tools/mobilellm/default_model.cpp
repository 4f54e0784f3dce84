#include "default_model.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "mobilellm/error.hpp"

#ifndef MOBILELLM_DEFAULT_MODEL_NAME
#error "MOBILELLM_DEFAULT_MODEL_NAME (the bundled model's file name) must be defined"
#endif

namespace mobilellm::cli {
namespace {

namespace fs = std::filesystem;

// The folder holding the running executable, or empty where the OS cannot tell (Linux and
// Android expose it as /proc/self/exe).
fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

}  // namespace

std::vector<std::string> default_model_candidates() {
  const fs::path name = MOBILELLM_DEFAULT_MODEL_NAME;
  std::vector<std::string> out;
  const auto add = [&](const fs::path& folder) {
    const std::string path = (folder / name).lexically_normal().string();
    if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(path);
  };
  if (const fs::path dir = executable_dir(); !dir.empty()) {
    add(dir.parent_path() / "share" / "mobilellm" / "models");
    add(dir.parent_path() / "models");
  }
#ifdef MOBILELLM_SOURCE_MODELS_DIR
  add(MOBILELLM_SOURCE_MODELS_DIR);
#endif
  return out;
}

std::string default_model_path() {
  std::string looked;
  for (const std::string& path : default_model_candidates()) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return path;
    looked += "\n  " + path;
  }
  if (looked.empty()) looked = "\n  (nowhere: the executable's folder is unknown)";
  throw IoError("no -m MODEL given and the bundled model " MOBILELLM_DEFAULT_MODEL_NAME
                " was not found; looked in:" +
                looked);
}

}  // namespace mobilellm::cli
