// Process and clock helpers of the comparison benchmark: servers as child processes on
// loopback, their memory from /proc, and a monotonic clock shared by every thread.
#ifndef CONFCENTER_BENCH_BENCH_PROCESS_H_
#define CONFCENTER_BENCH_BENCH_PROCESS_H_

#include <cstdint>

#include "tests/child_process.h"

namespace confcenter::bench {

// Nanoseconds on the monotonic clock; comparable across the threads of this process.
int64_t NowNanos();

// A "Vm*:" field of /proc/PID/status (e.g. "VmRSS", "VmHWM") in bytes; 0 if unreadable.
int64_t ProcStatusBytes(int pid, const char* field);

// CPU time (user + system) process `pid` has used so far, in seconds; 0 if unreadable.
double ProcCpuSeconds(int pid);

// Moved to tests/child_process.h (the etcd tests start etcd too); kept under these names.
using testing::ChildProcess;
using testing::FileTail;
using testing::FreeLoopbackPort;

}  // namespace confcenter::bench

#endif  // CONFCENTER_BENCH_BENCH_PROCESS_H_
