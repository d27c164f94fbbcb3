// Who asks for a write, as the gRPC edge sees it: the x-confcenter-user metadata header (until
// authentication exists) and the peer address.
#ifndef CONFCENTER_SERVER_API_WRITE_CONTEXT_H_
#define CONFCENTER_SERVER_API_WRITE_CONTEXT_H_

#include <algorithm>
#include <string>

#include "absl/strings/string_view.h"
#include "common/names.h"
#include "grpcpp/grpcpp.h"
#include "server/core/config_core.h"

namespace confcenter {

// The metadata header naming the user; empty or absent = "anonymous".
inline constexpr char kUserHeader[] = "x-confcenter-user";
// Longest user name kept; longer ones are cut.
inline constexpr size_t kMaxUserBytes = 256;

inline WriteContext ContextOf(const grpc::CallbackServerContext* ctx, absl::string_view rpc,
                              std::string message = "") {
  WriteContext context;
  context.rpc = std::string(rpc);
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find(kUserHeader);
  if (it != metadata.end()) {
    context.user = CutUtf8(absl::string_view(it->second.data(), it->second.size()), kMaxUserBytes);
  }
  if (context.user.empty()) context.user = "anonymous";
  context.peer = ctx->peer();
  context.message = std::move(message);
  if (ctx->deadline() != std::chrono::system_clock::time_point::max()) {
    context.deadline = absl::FromChrono(ctx->deadline());
  }
  return context;
}

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_WRITE_CONTEXT_H_
