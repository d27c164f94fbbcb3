// The web console's files (server/console/), embedded in the binary at build time
// (cmake/embed_files.cmake), so a confcenterd binary serves its own console with nothing
// installed beside it.
#ifndef CONFCENTER_SERVER_API_CONSOLE_ASSETS_H_
#define CONFCENTER_SERVER_API_CONSOLE_ASSETS_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace confcenter {

struct ConsoleFile {
  const char* path;  // relative to server/console/, e.g. "app.js"
  const unsigned char* data;
  size_t size;
};

// The console file at `path` (relative, e.g. "index.html"), or null.
const ConsoleFile* FindConsoleFile(absl::string_view path);

// Its Content-Type, from the file name's extension.
const char* ConsoleContentType(absl::string_view path);

namespace internal {
// Defined by the generated source.
extern const ConsoleFile kConsoleFiles[];
extern const int kConsoleFileCount;
}  // namespace internal

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_CONSOLE_ASSETS_H_
