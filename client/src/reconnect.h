// Waiting out a retry backoff on a channel (internal to the library): ends early when the
// channel connects again, and drives its connection attempts meanwhile.
#ifndef CONFCENTER_CLIENT_SRC_RECONNECT_H_
#define CONFCENTER_CLIENT_SRC_RECONNECT_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace confcenter::internal {

// Whether `status` says the call got no connection, so nothing of it was sent: UNAVAILABLE
// from the load balancer's picker in TRANSIENT_FAILURE ("failed to connect to all
// addresses": every address of the list refused or timed out) or from a resolver that found
// no address.
bool IsConnectFailure(const absl::Status& status);

// Waits until `until`, or less once `channel` is READY after having been seen in another
// state (a new connection, to the same server or to the next address of the list: the next
// attempt can go at once). `lost`: the connection is known to be gone already (the attempt
// failed with IsConnectFailure), so READY at once counts too. A channel that stays READY
// throughout (the server itself answered UNAVAILABLE) waits the whole time: retrying at once
// could spin. Watching the state also drives the connection attempts: a synchronous client
// has no other thread reading their sockets between calls (only gRPC's backup poller, every
// 5 s), so a refused or accepted connect would otherwise go unnoticed until the attempt's
// deadline. `stopping` (if set) is checked every 50 ms; returns true as soon as it says so,
// else false.
bool WaitForReconnect(grpc::Channel* channel, absl::Time until, bool lost,
                      const std::function<bool()>& stopping = nullptr);

}  // namespace confcenter::internal

#endif  // CONFCENTER_CLIENT_SRC_RECONNECT_H_
