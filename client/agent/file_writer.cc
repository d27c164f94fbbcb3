#include "client/agent/file_writer.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace confcenter::agent {
namespace {

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

std::string Directory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

absl::StatusOr<mode_t> ParseMode(const std::string& text, const std::string& field) {
  bool octal = !text.empty() && text.size() <= 4;
  for (char c : text) octal &= c >= '0' && c <= '7';
  const unsigned long mode = octal ? std::strtoul(text.c_str(), nullptr, 8) : 0;
  if (!octal || mode > 0777) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", text, "\" is no file mode (octal, e.g. 0640)"));
  }
  return static_cast<mode_t>(mode);
}

absl::Status ParseOwner(const std::string& text, const std::string& field, FileSpec* spec) {
  const size_t colon = text.find(':');
  const std::string user = text.substr(0, colon);
  const std::string group_name = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (!user.empty()) {
    uint32_t id = 0;
    if (absl::SimpleAtoi(user, &id)) {
      spec->uid = id;
    } else if (const passwd* pw = getpwnam(user.c_str()); pw != nullptr) {
      spec->uid = pw->pw_uid;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(field, ": no user \"", user, "\""));
    }
  }
  if (!group_name.empty()) {
    uint32_t id = 0;
    if (absl::SimpleAtoi(group_name, &id)) {
      spec->gid = id;
    } else if (const struct group* gr = getgrnam(group_name.c_str()); gr != nullptr) {
      spec->gid = gr->gr_gid;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(field, ": no group \"", group_name, "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> WriteFileIfChanged(const FileSpec& spec, const std::string& content) {
  struct stat st;
  if (stat(spec.path.c_str(), &st) == 0 && (st.st_mode & 07777) == spec.mode &&
      (!spec.uid.has_value() || st.st_uid == *spec.uid) &&
      (!spec.gid.has_value() || st.st_gid == *spec.gid)) {
    std::optional<std::string> current = ReadFile(spec.path);
    if (current.has_value() && *current == content) return false;
  }
  const std::string dir = Directory(spec.path);
  std::string temp =
      absl::StrCat(dir, "/.", std::filesystem::path(spec.path).filename().string(), ".tmp.XXXXXX");
  const int fd = mkstemp(temp.data());
  if (fd < 0) return Errno("cannot create a file in", dir);
  auto fail = [&](const std::string& what) {
    absl::Status status = Errno(what, temp);
    close(fd);
    unlink(temp.c_str());
    return status;
  };
  if (fchmod(fd, spec.mode) != 0) return fail("cannot set the mode of");
  if ((spec.uid.has_value() || spec.gid.has_value()) &&
      fchown(fd, spec.uid.value_or(static_cast<uid_t>(-1)),
             spec.gid.value_or(static_cast<gid_t>(-1))) != 0) {
    return fail("cannot set the owner of");
  }
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot sync");
  if (close(fd) != 0) {
    absl::Status status = Errno("cannot close", temp);
    unlink(temp.c_str());
    return status;
  }
  if (rename(temp.c_str(), spec.path.c_str()) != 0) {
    absl::Status status = Errno("cannot rename over", spec.path);
    unlink(temp.c_str());
    return status;
  }
  // The rename itself survives a crash once the directory is synced.
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return true;
}

absl::Status CheckWritable(const std::string& path) {
  const std::string dir = Directory(path);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the directory ", dir, ": ", error.message()));
  }
  std::string probe = dir + "/.confcenter-agent-probe.XXXXXX";
  const int fd = mkstemp(probe.data());
  if (fd < 0) return Errno("cannot write in", dir);
  close(fd);
  unlink(probe.c_str());
  return absl::OkStatus();
}

}  // namespace confcenter::agent
