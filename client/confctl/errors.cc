#include "client/confctl/errors.h"

#include <algorithm>

#include "absl/strings/cord.h"

namespace confcenter::confctl {
namespace {

constexpr char kUsagePayloadUrl[] = "type.confcenter/confctl.usage";
constexpr char kNotAppliedPayloadUrl[] = "type.confcenter/confctl.not-applied";

}  // namespace

const char kExitCodeHelp[] =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  any other error\n"
    "  2  usage error (bad command line, unreadable file)\n"
    "  3  not found (NOT_FOUND)\n"
    "  4  conflict (FAILED_PRECONDITION, ALREADY_EXISTS, ABORTED), e.g. expected revision\n"
    "  5  unavailable (UNAVAILABLE, DEADLINE_EXCEEDED): server down or too slow; retry\n"
    "  6  invalid argument (INVALID_ARGUMENT, OUT_OF_RANGE), incl. unparsable input files\n"
    "  7  resource exhausted (RESOURCE_EXHAUSTED): a quota\n"
    "  8  wait-applied: not every instance applied the revision in time\n"
    "Errors go to stderr as one line: confctl: <CODE>: <message>\n"
    "The server address is --server (or --address), else $CONFCENTER_ADDR, else\n"
    "127.0.0.1:7070; replicas as a list ip:port,ip:port are tried in order.\n"
    "TLS: --ca (else $CONFCENTER_CA), mutual TLS: --cert/--key ($CONFCENTER_CERT/KEY); bearer\n"
    "token: --token-file or --token ($CONFCENTER_TOKEN_FILE, $CONFCENTER_TOKEN).";

absl::Status UsageError(const std::string& message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayloadUrl, absl::Cord("usage"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayloadUrl).has_value();
}

absl::Status NotAppliedError(const std::string& message) {
  absl::Status status = absl::DeadlineExceededError(message);
  status.SetPayload(kNotAppliedPayloadUrl, absl::Cord("not-applied"));
  return status;
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (IsUsageError(status)) return kExitUsage;
  if (status.GetPayload(kNotAppliedPayloadUrl).has_value()) return kExitNotApplied;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return kExitConflict;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalidArgument;
    case absl::StatusCode::kResourceExhausted:
      return kExitResourceExhausted;
    default:
      return kExitOther;
  }
}

void PrintError(const absl::Status& status, std::ostream& err) {
  std::string message(status.message());
  std::replace(message.begin(), message.end(), '\n', ' ');
  const std::string code = IsUsageError(status) ? "usage" : absl::StatusCodeToString(status.code());
  err << "confctl: " << code << ": " << message << std::endl;
}

}  // namespace confcenter::confctl
