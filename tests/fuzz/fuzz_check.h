// Helpers shared by the libFuzzer targets: a property check that stops the run with a message
// (libFuzzer then saves the input as a crash), and predicates several targets use.
#ifndef CONFCENTER_TESTS_FUZZ_FUZZ_CHECK_H_
#define CONFCENTER_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/common.h"

// Aborts with `what` and the failed condition if `cond` is false.
#define FUZZ_CHECK(cond, what)                                                                \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "%s:%d: property violated: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

namespace confcenter::fuzz {

// Valid UTF-8 as protobuf checks it when it parses a proto3 string field: what every string
// the server stores must be.
inline bool IsUtf8(absl::string_view s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(s.data(), static_cast<int>(s.size()));
}

// True if `message` starts with a field path and ": ", as every error of the API does:
// `name`, `name[3]`, `name["quoted \"key\""]`, joined by ".", e.g.
// `services[0].defaults["db.url"]: ...`.
inline bool StartsWithFieldPath(absl::string_view message) {
  size_t i = 0;
  auto ident = [&] {
    const size_t start = i;
    while (i < message.size() && ((message[i] >= 'a' && message[i] <= 'z') || message[i] == '_'))
      ++i;
    return i > start;
  };
  if (!ident()) return false;
  while (i < message.size()) {
    if (message[i] == '.') {
      ++i;
      if (!ident()) return false;
    } else if (message[i] == '[') {
      ++i;
      if (i < message.size() && message[i] == '"') {  // a quoted, C-escaped name
        ++i;
        while (i < message.size() && message[i] != '"') i += message[i] == '\\' ? 2 : 1;
        if (i >= message.size()) return false;
        ++i;
      } else {
        const size_t start = i;
        while (i < message.size() && message[i] >= '0' && message[i] <= '9') ++i;
        if (i == start) return false;
      }
      if (i >= message.size() || message[i] != ']') return false;
      ++i;
    } else {
      break;
    }
  }
  return message.substr(i, 2) == ": ";
}

}  // namespace confcenter::fuzz

#endif  // CONFCENTER_TESTS_FUZZ_FUZZ_CHECK_H_
