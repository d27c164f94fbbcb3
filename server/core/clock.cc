#include "server/core/clock.h"

#include <fstream>

namespace confcenter {

absl::Time FileClock::Now() {
  std::ifstream in(path_);
  int64_t micros = 0;
  absl::MutexLock lock(&mu_);
  if (in >> micros) last_ = absl::FromUnixMicros(micros);  // else: a file being replaced
  return last_;
}

}  // namespace confcenter
