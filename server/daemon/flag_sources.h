// Where confcenterd's settings come from besides the command line: a YAML config file and
// CONFCENTER_* environment variables. Precedence: command line > environment > file >
// built-in default.
#ifndef CONFCENTER_SERVER_DAEMON_FLAG_SOURCES_H_
#define CONFCENTER_SERVER_DAEMON_FLAG_SOURCES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace confcenter {

// Sets flags from the config file and then from the environment; call it before
// absl::ParseCommandLine, which then overrides both. Only the flags defined in a source file
// whose path ends with one of `own_flag_files` (e.g. "server/daemon/main.cc") can be set; others,
// and unknown names, are INVALID_ARGUMENT naming the file line or the variable.
//   - The file is named by --config / --config=FILE in `argv`, else by CONFCENTER_CONFIG; none
//     means no file. It holds one YAML mapping of flag name to scalar value, e.g.
//     `listen: 0.0.0.0:7070`, `unsafe_no_fsync: false`, `progress_interval: 10s`.
//   - CONFCENTER_<FLAG NAME IN CAPITALS>=value for every other variable with that prefix
//     (`envp` is the environment, as environ), except CONFCENTER_ADDR, which is confctl's.
// Returns, for every flag set, where: "FILE:LINE" or the variable's name.
using SettingOrigins = std::map<std::string, std::string>;
absl::StatusOr<SettingOrigins> ApplyConfigSources(int argc, char** argv, char** envp,
                                                  const std::vector<std::string>& own_flag_files);

// The effective value of every own flag (call after absl::ParseCommandLine) as a YAML config
// file that --config accepts, each line commented with where its value came from: the
// command line, an origin from ApplyConfigSources, or the default.
std::string DescribeSettings(int argc, char** argv, const SettingOrigins& origins,
                             const std::vector<std::string>& own_flag_files);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_DAEMON_FLAG_SOURCES_H_
