// Decoding UTF-8 one character at a time, for the export codecs' escaping.
#ifndef CONFCENTER_CLIENT_CONFCTL_UTF8_H_
#define CONFCENTER_CLIENT_CONFCTL_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace confcenter::confctl {

// Decodes the UTF-8 character at text[*pos] (*pos < text.size()) and advances past it.
// Returns nullopt, advancing one byte, where text[*pos] does not start a valid sequence
// (a stray continuation byte, a truncated or overlong sequence, a surrogate, or a code point
// above U+10FFFF).
inline std::optional<uint32_t> NextUtf8(std::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(*pos);
  if (lead < 0x80) {
    ++*pos;
    return lead;
  }
  int length = 0;
  uint32_t code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, code = lead & 0x07;
  }
  bool valid = length > 0 && *pos + length <= text.size();
  for (int i = 1; valid && i < length; ++i) {
    valid = (byte(*pos + i) & 0xC0) == 0x80;
    code = (code << 6) | (byte(*pos + i) & 0x3F);
  }
  constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (!valid || code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
    ++*pos;
    return std::nullopt;
  }
  *pos += length;
  return code;
}

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_UTF8_H_
