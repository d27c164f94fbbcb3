// The resolution rule, in one place: a (service, key) of tenant T's view is decided by T's
// chain [T, parent(T), ..., root]. The nearest tenant of the chain with an own entry for the
// key wins; if that entry is a mask the key is hidden (absent from the view), whatever the
// tenants further up hold.
//
// ConfigState::Resolve (reads), the watch hub's event computation (views at past revisions)
// and Register's planning of generated entries (what a tenant inherits) all decide through
// ResolveAlongChain, each with its own way of finding a level's entry.
#ifndef CONFCENTER_SERVER_CORE_RESOLUTION_H_
#define CONFCENTER_SERVER_CORE_RESOLUTION_H_

#include <cstddef>

#include "storage/records.pb.h"

namespace confcenter {

// The outcome of resolving one key along a chain.
struct Resolution {
  // The level (index into the chain) whose entry decided, or kNone if no level has one.
  static constexpr size_t kNone = static_cast<size_t>(-1);
  size_t level = kNone;
  // The deciding entry; nullptr if no level has one.
  const storage::EntryRecord* decider = nullptr;

  // Whether the key is in the view: decided by an entry that is not a mask.
  bool visible() const { return decider != nullptr && !decider->mask(); }
  // The entry the view shows, or nullptr when the key is absent or masked.
  const storage::EntryRecord* entry() const { return visible() ? decider : nullptr; }
};

// Resolves one key along a chain of `levels` tenants, nearest first. `entry_at(i)` returns the
// own entry of level i for the key (nullptr: none); levels are asked nearest first and no
// further than the deciding one.
template <typename EntryAt>
Resolution ResolveAlongChain(size_t levels, EntryAt&& entry_at) {
  for (size_t i = 0; i < levels; ++i) {
    if (const storage::EntryRecord* entry = entry_at(i)) return {i, entry};
  }
  return {};
}

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_RESOLUTION_H_
