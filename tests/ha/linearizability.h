// A test-only linearizability checker for a per-key register model, in the Wing-Gong style
// with Lowe's memoization, as Porcupine (which etcd's robustness tests use). A history of
// operations on keys, each with its call and return time as seen by the client, is
// linearizable if every operation can be given one instant between its call and its return
// such that the operations, run one at a time in that order on a register per key, give the
// results the clients saw. Linearizability is compositional, so each key is checked alone.
#ifndef CONFCENTER_TESTS_HA_LINEARIZABILITY_H_
#define CONFCENTER_TESTS_HA_LINEARIZABILITY_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace confcenter::testing::ha {

// The return time of an operation whose outcome the client never learned (a timeout, a
// broken connection): it may take effect at any time after its call, or never.
inline constexpr int64_t kUnknownReturn = std::numeric_limits<int64_t>::max();

// One operation of a history. Times are in any unit on one clock shared by all clients.
struct Op {
  enum Kind {
    kGet,        // read: `ok`, `exists`, `value` and `rev` as read
    kPut,        // write `value`; output: the revision it wrote (`rev`)
    kCasPut,     // write `value` if the guard holds; `ok` says whether it did
    kDelete,     // delete; output: `exists` = whether it deleted anything, `rev`
    kCasDelete,  // delete if the guard holds; `ok` says whether it did
  };

  int client = 0;
  int64_t call = 0;
  int64_t ret = kUnknownReturn;  // kUnknownReturn: outcome unknown
  Kind kind = kGet;
  std::string key;
  std::string value;
  // The guard of kCasPut and kCasDelete. If `expected_value` is set, the guard holds when the
  // key exists with that value; otherwise when the key's modification revision equals
  // `expected` (0: the key does not exist), as in etcd's Compare on mod_revision.
  int64_t expected = 0;
  std::optional<std::string> expected_value;

  // Outputs. A kGet, kPut or kDelete with `ok` false failed for certain and had no effect, so
  // it is ignored (an uncertain failure must be recorded with ret = kUnknownReturn instead).
  // For kCasPut and kCasDelete, `ok` false means the guard did not hold.
  bool ok = true;
  bool exists = false;
  // A revision written (writes) or read (kGet). 0: not recorded, matches any revision; the
  // checker then checks values only.
  int64_t rev = 0;
};

// The model's state of one key. rev -1: written by an operation whose revision is unknown.
struct KeyState {
  bool exists = false;
  std::string value;
  int64_t rev = 0;
};

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };

struct CheckOptions {
  // The search gives up (kUnknown) after this many steps on one key.
  int64_t max_steps_per_key = 20'000'000;
};

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  // For kNotLinearizable: the key, the longest prefix the search could order (its last
  // operations), the state it left and the operation that cannot follow it; for kUnknown:
  // which key ran out of budget. Empty when linearizable.
  std::string explanation;
};

// Checks `ops` (in any order) per key against a register that starts absent. Never throws;
// invalid operations (ret < call) make the verdict kNotLinearizable with an explanation.
CheckResult CheckHistory(const std::vector<Op>& ops, const CheckOptions& options = {});

// As CheckHistory: true if linearizable; otherwise false with the explanation (or why the
// check gave up) in `*why` if `why` is not null.
bool CheckLinearizable(const std::vector<Op>& ops, std::string* why);

// A one-line description of an operation, for explanations and test failures.
std::string Describe(const Op& op);

}  // namespace confcenter::testing::ha

#endif  // CONFCENTER_TESTS_HA_LINEARIZABILITY_H_
