// Detects a Session used from two threads at once.
#pragma once

#include "mobilellm/error.hpp"
#include "mobilellm/session.hpp"

namespace mobilellm {

// Marks a session busy for the duration of a call; a second thread entering meanwhile is refused.
class SessionGuard {
 public:
  explicit SessionGuard(Session& s) : s_(s) {
    if (s_.busy_.exchange(true, std::memory_order_acquire))
      throw Error(ErrorCode::busy,
                  "Session used from two threads at once: a Session belongs to one thread at a time");
  }
  ~SessionGuard() { s_.busy_.store(false, std::memory_order_release); }
  SessionGuard(const SessionGuard&) = delete;
  SessionGuard& operator=(const SessionGuard&) = delete;

 private:
  Session& s_;
};

}  // namespace mobilellm
