// The metadata every call of the client library carries (internal to the library).
#ifndef CONFCENTER_CLIENT_SRC_CALL_METADATA_H_
#define CONFCENTER_CLIENT_SRC_CALL_METADATA_H_

#include <string>

#include "absl/status/status.h"
#include "confcenter/credentials.h"
#include "grpcpp/grpcpp.h"

namespace confcenter::internal {

// Adds to `context` x-confcenter-user (unless `user` is empty: on whose behalf the caller
// acts) and `authorization: Bearer <token>` (if `token` has one). Errors: the token's
// (UNAUTHENTICATED naming the token file); then the call must not be made.
inline absl::Status AddCallMetadata(grpc::ClientContext* context, const std::string& user,
                                    const TokenSource& token) {
  if (!user.empty()) context->AddMetadata("x-confcenter-user", user);
  return token.Apply(context);
}

}  // namespace confcenter::internal

#endif  // CONFCENTER_CLIENT_SRC_CALL_METADATA_H_
