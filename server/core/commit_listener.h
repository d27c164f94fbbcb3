// What the committer tells about every batch it committed. The watch hub is the listener in
// confcenterd; the core knows only this interface, so it builds without the watch room.
#ifndef CONFCENTER_SERVER_CORE_COMMIT_LISTENER_H_
#define CONFCENTER_SERVER_CORE_COMMIT_LISTENER_H_

#include <vector>

#include "absl/time/time.h"
#include "server/core/config_state.h"
#include "storage/records.pb.h"

namespace confcenter {

class CommitListener {
 public:
  virtual ~CommitListener() = default;
  // `change_sets` were just committed and applied, in revision order; `state` is the state
  // after the last of them, read-locked for the duration of the call. `durable_at` is when
  // the store acknowledged the commit. Called on the committer thread, before the writers
  // are acknowledged: it must not block and must not call the core.
  virtual void Committed(const std::vector<storage::ChangeSet>& change_sets,
                         const ConfigState& state, absl::Time durable_at) = 0;
  // The whole state was replaced by a reload from a shared store (a replica that fell behind
  // a compaction of the store's log); `state` is the new one, write-locked for the call. What
  // was published before may not lead to it: streams must start again from a snapshot. Same
  // thread rules as Committed.
  virtual void Reloaded(const ConfigState& state) {}
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_COMMIT_LISTENER_H_
