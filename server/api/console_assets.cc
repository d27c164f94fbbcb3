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
  // Not text/javascript: cpp-httplib 0.11 would compress it with brotli at quality 11 on
  // every request (tens of ms for app.js); this type it leaves alone.
  if (absl::EndsWith(path, ".js")) return "application/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(path, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace confcenter
