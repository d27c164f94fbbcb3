#include "server/api/console_assets.h"

#include "absl/strings/match.h"

namespace confcenter {

const ConsoleFile* FindConsoleFile(absl::string_view path) {
  for (int i = 0; i < internal::kConsoleFileCount; ++i) {
    if (path == internal::kConsoleFiles[i].path) return &internal::kConsoleFiles[i];
  }
  return nullptr;
}

const char* ConsoleContentType(absl::string_view path) {
  if (absl::EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(path, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace confcenter
