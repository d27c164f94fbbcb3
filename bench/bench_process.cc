#include "bench/bench_process.h"

#include <chrono>
#include <fstream>
#include <sstream>

namespace confcenter::bench {

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t ProcStatusBytes(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream rest(line.substr(prefix.size()));
    int64_t kb = 0;
    rest >> kb;  // "   123456 kB"
    return kb * 1024;
  }
  return 0;
}

}  // namespace confcenter::bench
