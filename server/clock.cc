#include "server/clock.h"

#include <fstream>

namespace confcenter {

absl::Time FileClock::Now() {
  std::ifstream in(path_);
  int64_t micros = 0;
  in >> micros;
  return absl::FromUnixMicros(micros);
}

}  // namespace confcenter
