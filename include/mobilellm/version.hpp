#pragma once

namespace mobilellm {
// The library's version, "MAJOR.MINOR.PATCH".
const char* version() noexcept;
}  // namespace mobilellm
