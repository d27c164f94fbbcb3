// confcenterd's log output: spdlog to stderr, as text for people or as JSON lines for log
// shippers.
#ifndef CONFCENTER_SERVER_DAEMON_LOGGING_H_
#define CONFCENTER_SERVER_DAEMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace confcenter {

// Sets the default logger's level ("trace", "debug", "info", "warn", "error", "critical" or
// "off") and format: "text" (time, level, message) or "json" (one object per line with
// time in UTC RFC 3339, level, thread and msg, the message JSON-escaped). INVALID_ARGUMENT
// naming the flag for anything else; nothing changes then.
absl::Status ConfigureLogging(const std::string& format, const std::string& level);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_DAEMON_LOGGING_H_
