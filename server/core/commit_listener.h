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
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_COMMIT_LISTENER_H_
