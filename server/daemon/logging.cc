#include "server/daemon/logging.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/spdlog.h"

namespace confcenter {
namespace {

// The log message as the inside of a JSON string.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : absl::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          Append(dest, "\\\"");
          break;
        case '\\':
          Append(dest, "\\\\");
          break;
        case '\n':
          Append(dest, "\\n");
          break;
        case '\r':
          Append(dest, "\\r");
          break;
        case '\t':
          Append(dest, "\\t");
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            Append(dest, absl::StrFormat("\\u%04x", static_cast<unsigned char>(c)));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }

 private:
  static void Append(spdlog::memory_buf_t& dest, absl::string_view s) {
    dest.append(s.data(), s.data() + s.size());
  }
};

}  // namespace

absl::Status ConfigureLogging(const std::string& format, const std::string& level,
                              const std::string& file) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {  // from_str's answer to anything else
    return absl::InvalidArgumentError(absl::StrCat(
        "log_level: \"", level, "\" is not one of trace, debug, info, warn, error, critical, off"));
  }
  if (format != "json" && format != "text") {
    return absl::InvalidArgumentError(
        absl::StrCat("log_format: \"", format, "\" is not one of text, json"));
  }
  if (!file.empty()) {
    try {
      spdlog::set_default_logger(std::make_shared<spdlog::logger>(
          "", std::make_shared<spdlog::sinks::basic_file_sink_mt>(file)));
    } catch (const spdlog::spdlog_ex& e) {
      return absl::InvalidArgumentError(absl::StrCat("log_file: ", e.what()));
    }
  }
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc,
                                                                 std::string("\n"));
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%*"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  }
  spdlog::set_level(parsed);
  return absl::OkStatus();
}

}  // namespace confcenter
