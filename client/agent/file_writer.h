// confcenter-agent: files written atomically and only when their content changes.
#ifndef CONFCENTER_CLIENT_AGENT_FILE_WRITER_H_
#define CONFCENTER_CLIENT_AGENT_FILE_WRITER_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace confcenter::agent {

struct FileSpec {
  std::string path;
  mode_t mode = 0600;  // a view may hold secrets
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// "0640" -> 0640. INVALID_ARGUMENT naming `field` unless octal and at most 0777.
absl::StatusOr<mode_t> ParseMode(const std::string& text, const std::string& field);
// "app", "app:app", "1000:1000", ":staff". INVALID_ARGUMENT naming `field` for an unknown
// user or group.
absl::Status ParseOwner(const std::string& text, const std::string& field, FileSpec* spec);

// Writes `content` to spec.path unless the file already holds exactly that (false): a
// temporary file beside it gets the content, mode and owner, is fsynced and renamed over the
// path, and the directory is fsynced, so a reader sees the old file or the new one, whole, and
// a crash leaves one of them. True if written. Errors name the path and the reason.
absl::StatusOr<bool> WriteFileIfChanged(const FileSpec& spec, const std::string& content);

// Fails (naming the path) unless a file can be created in `path`'s directory, which is made
// (0755, with its parents) if missing.
absl::Status CheckWritable(const std::string& path);

}  // namespace confcenter::agent

#endif  // CONFCENTER_CLIENT_AGENT_FILE_WRITER_H_
