// confctl's config import/export codec (client/confctl/codec.h): any text either decodes or
// fails with INVALID_ARGUMENT; what decodes re-encodes in every format to a file that decodes
// to the same keys and values (parse -> export -> parse is the identity), and exporting that
// again gives the same file. The export contracts cover keys that are valid config keys
// (YAML, JSON) and valid UTF-8 (all three), so only such maps are re-encoded.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/confctl/codec.h"
#include "common/names.h"
#include "tests/fuzz/fuzz_check.h"

namespace confcenter::confctl {
namespace {

constexpr FileFormat kFormats[] = {FileFormat::kYaml, FileFormat::kJson, FileFormat::kProperties};
constexpr const char* kNames[] = {"yaml", "json", "properties"};

bool Exportable(const FlatMap& flat, FileFormat format) {
  for (const auto& [key, value] : flat) {
    if (!fuzz::IsUtf8(key) || !fuzz::IsUtf8(value)) return false;
    if (format != FileFormat::kProperties && !ValidateKey("key", key).ok()) return false;
  }
  return true;
}

std::string Show(const FlatMap& flat) {
  std::string out = "{";
  for (const auto& [k, v] : flat) {
    absl::StrAppend(&out, "\"", absl::CHexEscape(k), "\": \"", absl::CHexEscape(v), "\", ");
  }
  return out + "}";
}

}  // namespace
}  // namespace confcenter::confctl

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter::confctl;
  if (size == 0) return 0;
  const int input_format = data[0] % 3;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  absl::StatusOr<FlatMap> flat = DecodeConfig(text, kFormats[input_format]);
  if (!flat.ok()) {
    FUZZ_CHECK(flat.status().code() == absl::StatusCode::kInvalidArgument,
               flat.status().ToString());
    return 0;
  }
  for (int f = 0; f < 3; ++f) {
    if (!Exportable(*flat, kFormats[f])) continue;
    const std::string encoded = EncodeConfig(*flat, kFormats[f]);
    const std::string ctx =
        absl::StrCat(kNames[input_format], " -> ", Show(*flat), " -> ", kNames[f], ":\n", encoded);
    absl::StatusOr<FlatMap> again = DecodeConfig(encoded, kFormats[f]);
    FUZZ_CHECK(again.ok(), absl::StrCat(ctx, "\ndoes not decode: ", again.status().ToString()));
    FUZZ_CHECK(*again == *flat, absl::StrCat(ctx, "\ndecodes to ", Show(*again)));
    FUZZ_CHECK(EncodeConfig(*again, kFormats[f]) == encoded, ctx);
  }
  return 0;
}
