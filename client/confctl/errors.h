// confctl's exit codes and error reporting: every failure is one absl::Status, mapped to an
// exit code and printed as one line on stderr.
#ifndef CONFCENTER_CLIENT_CONFCTL_ERRORS_H_
#define CONFCENTER_CLIENT_CONFCTL_ERRORS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace confcenter::confctl {

// The process exit codes (also listed in `confctl --help`).
enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitNotFound = 3,
  kExitConflict = 4,
  kExitUnavailable = 5,
  kExitInvalidArgument = 6,
  kExitResourceExhausted = 7,
  kExitNotApplied = 8,
};

// The help text footer that documents the exit codes.
extern const char kExitCodeHelp[];

// A status that means "the command line is wrong" (exit 2): code INVALID_ARGUMENT with a
// marker payload, so it is told apart from a server's INVALID_ARGUMENT (exit 6).
absl::Status UsageError(const std::string& message);

// True if `status` was made by UsageError.
bool IsUsageError(const absl::Status& status);

// A status that means "some instances have not applied the revision" (wait-applied, exit 8):
// code DEADLINE_EXCEEDED with a marker payload.
absl::Status NotAppliedError(const std::string& message);

// The exit code for `status`: 0 for OK, 2 for a usage error, 8 for NotAppliedError, otherwise
// by its code:
// NOT_FOUND 3; FAILED_PRECONDITION, ALREADY_EXISTS, ABORTED 4; UNAVAILABLE,
// DEADLINE_EXCEEDED 5; INVALID_ARGUMENT, OUT_OF_RANGE 6; RESOURCE_EXHAUSTED 7; anything else 1.
int ExitCodeFor(const absl::Status& status);

// Writes `status` (not OK) to `err` as one line: "confctl: <CODE>: <message>", where CODE is
// the canonical code name (NOT_FOUND...) or "usage" for a usage error. Newlines in the
// message are replaced by spaces so it stays one line.
void PrintError(const absl::Status& status, std::ostream& err);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_ERRORS_H_
