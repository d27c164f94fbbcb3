// confcenterd's log output: spdlog to stderr (or a file), as text for people or as JSON lines for
// log shippers.
#ifndef CONFCENTER_SERVER_DAEMON_LOGGING_H_
#define CONFCENTER_SERVER_DAEMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace confcenter {

// Sets the default logger's level ("trace", "debug", "info", "warn", "error", "critical" or
// "off") and format: "text" (time, level, message) or "json" (one object per line with
// time in UTC RFC 3339, level, thread and msg, the message JSON-escaped). INVALID_ARGUMENT
// naming the flag for anything else; nothing changes then. `file`: append the log to this
// file instead of stderr (empty = stderr); INVALID_ARGUMENT naming log_file if it cannot be
// opened.
absl::Status ConfigureLogging(const std::string& format, const std::string& level,
                              const std::string& file = "");

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_DAEMON_LOGGING_H_
