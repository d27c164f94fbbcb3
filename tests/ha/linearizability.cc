#include "tests/ha/linearizability.h"

#include <algorithm>
#include <map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace confcenter::testing::ha {

namespace {

std::string DescribeState(const KeyState& s) {
  if (!s.exists) return absl::StrCat("absent (rev ", s.rev, ")");
  return absl::StrCat("\"", s.value, "\" (rev ", s.rev == -1 ? "unknown" : absl::StrCat(s.rev),
                      ")");
}

bool Unknown(const Op& op) { return op.ret == kUnknownReturn; }

// Whether an operation with revision `rev` (0: not recorded) may follow state revision
// `state_rev` (-1: unknown): etcd's revisions only grow.
bool RevFollows(int64_t rev, int64_t state_rev) {
  return rev == 0 || state_rev == -1 || rev > state_rev;
}

enum class Tri { kFalse, kTrue, kMaybe };

Tri Guard(const KeyState& s, const Op& op) {
  if (op.expected_value.has_value()) {
    return s.exists && s.value == *op.expected_value ? Tri::kTrue : Tri::kFalse;
  }
  if (!s.exists) return op.expected == 0 ? Tri::kTrue : Tri::kFalse;
  if (s.rev == -1) return op.expected == 0 ? Tri::kFalse : Tri::kMaybe;
  return s.rev == op.expected ? Tri::kTrue : Tri::kFalse;
}

KeyState Written(const Op& op, bool unknown) {
  return KeyState{true, op.value, unknown || op.rev == 0 ? -1 : op.rev};
}

KeyState Deleted(const Op& op, bool unknown) {
  return KeyState{false, "", unknown || op.rev == 0 ? -1 : op.rev};
}

// The states the register may be in after `op` runs on `s`; none if `op`'s recorded outputs
// are impossible from `s`. An operation with an unknown outcome may or may not take effect.
std::vector<KeyState> Step(const KeyState& s, const Op& op) {
  std::vector<KeyState> next;
  const bool unknown = Unknown(op);
  switch (op.kind) {
    case Op::kGet:
      if (op.exists != s.exists) break;
      if (s.exists && (op.value != s.value || !(op.rev == 0 || s.rev == -1 || op.rev == s.rev))) {
        break;
      }
      next.push_back(s);
      break;
    case Op::kPut:
      if (unknown) {
        next.push_back(Written(op, true));
        next.push_back(s);
      } else if (RevFollows(op.rev, s.rev)) {
        next.push_back(Written(op, false));
      }
      break;
    case Op::kCasPut:
    case Op::kCasDelete: {
      const Tri guard = Guard(s, op);
      const bool put = op.kind == Op::kCasPut;
      if (unknown) {
        if (guard != Tri::kFalse) {
          next.push_back(put ? Written(op, true) : (s.exists ? Deleted(op, true) : s));
        }
        next.push_back(s);
      } else if (op.ok) {
        if (guard == Tri::kFalse || !RevFollows(op.rev, s.rev)) break;
        next.push_back(put ? Written(op, false) : (s.exists ? Deleted(op, false) : s));
      } else if (guard != Tri::kTrue) {
        next.push_back(s);
      }
      break;
    }
    case Op::kDelete:
      if (unknown) {
        if (s.exists) next.push_back(Deleted(op, true));
        next.push_back(s);
      } else if (op.exists == s.exists) {
        if (!s.exists) {
          next.push_back(s);
        } else if (RevFollows(op.rev, s.rev)) {
          next.push_back(Deleted(op, false));
        }
      }
      break;
  }
  return next;
}

// A call or return event in the doubly linked list of the search.
struct Entry {
  int op = 0;
  bool is_call = false;
  int64_t time = 0;
  int prev = -1;
  int next = -1;
  int match = -1;  // a call's return entry
};

class KeyChecker {
 public:
  KeyChecker(const std::string& key, std::vector<const Op*> ops, int64_t max_steps)
      : key_(key), ops_(std::move(ops)), max_steps_(max_steps) {}

  CheckResult Run() {
    const int n = static_cast<int>(ops_.size());
    // Entry 0 is the head sentinel; calls sort before returns at the same time, so that
    // operations that touch are concurrent.
    std::vector<Entry> sorted;
    for (int i = 0; i < n; ++i) {
      sorted.push_back(Entry{i, true, ops_[i]->call});
      sorted.push_back(Entry{i, false, ops_[i]->ret});
    }
    std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
      if (a.time != b.time) return a.time < b.time;
      return a.is_call && !b.is_call;
    });
    entries_.assign(1, Entry{});
    std::vector<int> call_of(n), return_of(n);
    for (const Entry& e : sorted) {
      (e.is_call ? call_of : return_of)[e.op] = static_cast<int>(entries_.size());
      entries_.push_back(e);
    }
    for (int i = 0; i < static_cast<int>(entries_.size()); ++i) {
      entries_[i].prev = i - 1;
      entries_[i].next = i + 1 < static_cast<int>(entries_.size()) ? i + 1 : -1;
    }
    for (int i = 0; i < n; ++i) entries_[call_of[i]].match = return_of[i];

    // Writes that succeeded with a known revision are placed in the order of their
    // revisions (etcd's revision order is its commit order): rank_[op] is the op's place in
    // that order, -1 for other ops.
    std::vector<std::pair<int64_t, int>> by_rev;
    for (int i = 0; i < n; ++i) {
      const Op& op = *ops_[i];
      const bool write = op.kind != Op::kGet && op.ok && !(op.kind == Op::kDelete && !op.exists);
      if (write && !Unknown(op) && op.rev > 0) by_rev.emplace_back(op.rev, i);
    }
    std::sort(by_rev.begin(), by_rev.end());
    rank_.assign(n, -1);
    for (int r = 0; r < static_cast<int>(by_rev.size()); ++r) rank_[by_rev[r].second] = r;
    int ranked_placed = 0;

    linearized_.assign((n + 63) / 64, 0);
    KeyState state;
    struct Frame {
      int entry;
      KeyState state;
      bool forced;  // a kept operation (see below)
    };
    std::vector<Frame> stack;
    int entry = entries_[0].next;
    int64_t steps = 0;
    while (entries_[0].next != -1) {
      if (++steps > max_steps_) {
        return CheckResult{Verdict::kUnknown,
                           absl::StrCat("key ", key_, ": gave up after ", max_steps_, " steps (", n,
                                        " operations)")};
      }
      const Entry& e = entries_[entry];
      bool backtrack = false;
      if (e.is_call) {
        const Op& op = *ops_[e.op];
        // An operation that certainly leaves the state as it is (a read, a failed CAS, a
        // delete of nothing) and fits now may as well be placed now: any order that places it
        // later still works with it moved here. So if the search fails (or failed before)
        // with it placed here, it fails without it too: backtrack at once.
        const bool keeps =
            !Unknown(op) && (op.kind == Op::kGet || (op.kind == Op::kDelete && !op.exists) ||
                             ((op.kind == Op::kCasPut || op.kind == Op::kCasDelete) && !op.ok));
        bool taken = false;
        std::vector<KeyState> nexts;
        if (rank_[e.op] == -1 || rank_[e.op] == ranked_placed) nexts = Step(state, op);
        for (KeyState& next : nexts) {
          Set(e.op, true);
          const bool fresh = cache_.insert(CacheKey(next)).second;
          if (!fresh) {
            Set(e.op, false);
            backtrack = keeps;
            continue;
          }
          stack.push_back(Frame{entry, state, keeps});
          state = std::move(next);
          Lift(entry);
          if (rank_[e.op] != -1) ++ranked_placed;
          if (static_cast<int>(stack.size()) > best_depth_) {
            best_depth_ = static_cast<int>(stack.size());
            best_order_.clear();
            for (const Frame& f : stack) best_order_.push_back(entries_[f.entry].op);
            best_state_ = state;
            blocker_ = -1;
          }
          entry = entries_[0].next;
          taken = true;
          break;
        }
        if (!taken && !backtrack) entry = e.next;
      } else {
        if (static_cast<int>(stack.size()) == best_depth_ && blocker_ == -1) blocker_ = e.op;
        backtrack = true;
      }
      while (backtrack) {
        if (stack.empty()) return Failure();
        const Frame top = stack.back();
        stack.pop_back();
        state = top.state;
        Set(entries_[top.entry].op, false);
        if (rank_[entries_[top.entry].op] != -1) --ranked_placed;
        Unlift(top.entry);
        // A kept operation's failure is its parent's. Otherwise the same call again: the
        // alternatives already taken are in the cache.
        backtrack = top.forced;
        entry = top.entry;
      }
    }
    return CheckResult{};
  }

 private:
  void Set(int op, bool on) {
    if (on) {
      linearized_[op / 64] |= uint64_t{1} << (op % 64);
    } else {
      linearized_[op / 64] &= ~(uint64_t{1} << (op % 64));
    }
  }

  std::string CacheKey(const KeyState& s) const {
    std::string key(reinterpret_cast<const char*>(linearized_.data()),
                    linearized_.size() * sizeof(uint64_t));
    key.push_back(s.exists ? '1' : '0');
    key.append(reinterpret_cast<const char*>(&s.rev), sizeof(s.rev));
    key.append(s.value);
    return key;
  }

  // Removes a call entry and its return entry from the list.
  void Lift(int call) {
    Entry& c = entries_[call];
    entries_[c.prev].next = c.next;
    if (c.next != -1) entries_[c.next].prev = c.prev;
    Entry& r = entries_[c.match];
    entries_[r.prev].next = r.next;
    if (r.next != -1) entries_[r.next].prev = r.prev;
  }

  // Puts back what Lift(call) removed (in the reverse order of the lifts).
  void Unlift(int call) {
    Entry& c = entries_[call];
    Entry& r = entries_[c.match];
    entries_[r.prev].next = c.match;
    if (r.next != -1) entries_[r.next].prev = c.match;
    entries_[c.prev].next = call;
    if (c.next != -1) entries_[c.next].prev = call;
  }

  CheckResult Failure() const {
    std::vector<std::string> tail;
    const int from = std::max(0, static_cast<int>(best_order_.size()) - 8);
    for (int i = from; i < static_cast<int>(best_order_.size()); ++i) {
      tail.push_back("  " + Describe(*ops_[best_order_[i]]));
    }
    std::string why = absl::StrCat(
        "key ", key_, ": not linearizable. The longest order found places ", best_depth_, " of ",
        ops_.size(), " operations", best_order_.empty() ? "" : "; it ends with:\n",
        absl::StrJoin(tail, "\n"), "\nleaving the key ", DescribeState(best_state_), ".\n");
    if (blocker_ >= 0) {
      const Op& b = *ops_[blocker_];
      absl::StrAppend(&why,
                      "No order places this operation (nor any still open when it "
                      "returned) after that prefix:\n  ",
                      Describe(b), "\n");
      std::vector<std::string> open;
      for (const Op* o : ops_) {
        if (o == &b || o->call > b.ret) continue;
        bool placed = false;
        for (int i : best_order_) placed = placed || ops_[i] == o;
        if (!placed && open.size() < 6) open.push_back("  " + Describe(*o));
      }
      if (!open.empty()) {
        absl::StrAppend(&why, "Operations not placed that started before it returned:\n",
                        absl::StrJoin(open, "\n"), "\n");
      }
    }
    return CheckResult{Verdict::kNotLinearizable, why};
  }

  std::string key_;
  std::vector<const Op*> ops_;
  int64_t max_steps_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> linearized_;
  std::vector<int> rank_;
  std::unordered_set<std::string> cache_;
  int best_depth_ = 0;
  std::vector<int> best_order_;
  KeyState best_state_;
  int blocker_ = -1;
};

}  // namespace

std::string Describe(const Op& op) {
  static constexpr const char* kNames[] = {"get", "put", "cas-put", "delete", "cas-delete"};
  std::string s =
      absl::StrCat("client ", op.client, " [", op.call, ", ",
                   Unknown(op) ? "?" : absl::StrCat(op.ret), "] ", kNames[op.kind], " ", op.key);
  if (op.kind == Op::kPut || op.kind == Op::kCasPut) absl::StrAppend(&s, " = \"", op.value, "\"");
  if (op.kind == Op::kCasPut || op.kind == Op::kCasDelete) {
    if (op.expected_value.has_value()) {
      absl::StrAppend(&s, " if value == \"", *op.expected_value, "\"");
    } else {
      absl::StrAppend(&s, " if mod_revision == ", op.expected);
    }
  }
  if (Unknown(op)) return s + " -> outcome unknown";
  switch (op.kind) {
    case Op::kGet:
      absl::StrAppend(&s, " -> ", op.exists ? absl::StrCat("\"", op.value, "\"") : "absent");
      break;
    case Op::kDelete:
      absl::StrAppend(&s, " -> ", op.exists ? "deleted" : "nothing to delete");
      break;
    default:
      absl::StrAppend(&s, " -> ", op.ok ? "ok" : "failed");
  }
  if (op.rev != 0) absl::StrAppend(&s, " (rev ", op.rev, ")");
  return s;
}

CheckResult CheckHistory(const std::vector<Op>& ops, const CheckOptions& options) {
  std::map<std::string, std::vector<const Op*>> by_key;
  for (const Op& op : ops) {
    if (op.ret < op.call) {
      return CheckResult{Verdict::kNotLinearizable,
                         "invalid operation (returns before its call): " + Describe(op)};
    }
    if (Unknown(op) && op.kind == Op::kGet) continue;  // no effect, nothing seen
    if (!Unknown(op) && !op.ok &&
        (op.kind == Op::kGet || op.kind == Op::kPut || op.kind == Op::kDelete)) {
      continue;  // failed for certain: no effect
    }
    by_key[op.key].push_back(&op);
  }
  CheckResult result;
  for (auto& [key, key_ops] : by_key) {
    CheckResult r = KeyChecker(key, std::move(key_ops), options.max_steps_per_key).Run();
    if (r.verdict == Verdict::kNotLinearizable) return r;
    if (r.verdict == Verdict::kUnknown) result = r;
  }
  return result;
}

bool CheckLinearizable(const std::vector<Op>& ops, std::string* why) {
  const CheckResult r = CheckHistory(ops);
  if (why != nullptr) *why = r.explanation;
  return r.verdict == Verdict::kLinearizable;
}

}  // namespace confcenter::testing::ha
