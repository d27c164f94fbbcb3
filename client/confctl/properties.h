// The java.util.Properties text format, read and written by its rules, in UTF-8.
#ifndef CONFCENTER_CLIENT_CONFCTL_PROPERTIES_H_
#define CONFCENTER_CLIENT_CONFCTL_PROPERTIES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/confctl/flatten.h"

namespace confcenter::confctl {

// Parses .properties text as Properties.load(Reader) does, with UTF-8 input:
// - lines end with \n, \r or \r\n; a line ending in an odd number of backslashes continues
//   on the next line, whose leading whitespace (space, \t, \f) is dropped;
// - blank lines and lines whose first non-whitespace character is # or ! are comments;
// - the key runs to the first unescaped '=', ':' or whitespace; whitespace, then at most one
//   '=' or ':', then whitespace separate it from the value, which runs to the end of the line;
// - in keys and values \t \n \r \f are control characters, \uXXXX is a UTF-16 code unit
//   (surrogate pairs are joined and written as UTF-8), and a backslash before any other
//   character stands for that character (\\ \= \: \# \! \space); raw UTF-8 is kept as is.
// A key given twice keeps its last value.
// Errors: INVALID_ARGUMENT for a malformed \uXXXX or an unpaired surrogate, naming the line.
absl::StatusOr<FlatMap> ParseProperties(absl::string_view text);

// Escapes a key as Properties.store does: \\ \t \n \r \f, a backslash before every space,
// '=', ':', '#' and '!', and every character outside printable ASCII (0x20-0x7E) as \uXXXX
// in uppercase hex (UTF-16 surrogate pairs above U+FFFF). Invalid UTF-8 bytes are taken as
// Latin-1 characters.
std::string EscapePropertiesKey(absl::string_view key);

// Escapes a value like EscapePropertiesKey, except that only a leading space is escaped.
std::string EscapePropertiesValue(absl::string_view value);

// The entries as "key=value" lines (escaped as above) in key order, each ending in "\n".
// ParseProperties(WriteProperties(m)) == m for every FlatMap m of valid UTF-8.
std::string WriteProperties(const FlatMap& flat);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_PROPERTIES_H_
