#include "server/daemon/flag_sources.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "yaml-cpp/yaml.h"

namespace confcenter {
namespace {

constexpr absl::string_view kEnvPrefix = "CONFCENTER_";
// Variables of the prefix that belong to the client tools (confctl's server address), so a
// shell that set them for confctl can still start the server.
constexpr absl::string_view kClientVariables[] = {"CONFCENTER_ADDR"};

// The config file named on the command line, if any.
std::optional<std::string> ConfigFileInArgs(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    if (absl::ConsumePrefix(&arg, "config=")) return std::string(arg);
    if (arg == "config" && i + 1 < argc) return std::string(argv[i + 1]);
  }
  return std::nullopt;
}

bool IsOwn(const absl::CommandLineFlag& flag, const std::vector<std::string>& own_flag_files) {
  if (flag.IsRetired()) return false;
  for (const std::string& file : own_flag_files) {
    if (absl::EndsWith(flag.Filename(), file)) return true;
  }
  return false;
}

// Whether the command line sets flag `name` (--name=v, --name v, -name, --noname).
bool OnCommandLine(int argc, char** argv, const std::string& name) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    arg = arg.substr(0, arg.find('='));
    if (arg == name || (absl::ConsumePrefix(&arg, "no") && arg == name)) return true;
  }
  return false;
}

// Sets flag `name` to `value`; `where` says where the setting came from, for errors.
absl::Status SetOwnFlag(const std::string& name, const std::string& value,
                        const std::vector<std::string>& own_flag_files, const std::string& where,
                        SettingOrigins& origins) {
  if (name == "config") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": config cannot name another config file"));
  }
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr || !IsOwn(*flag, own_flag_files)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unknown setting \"", name, "\" (confcenterd --help lists them)"));
  }
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", name, ": ", error));
  }
  origins[name] = where;
  return absl::OkStatus();
}

absl::Status ApplyConfigFile(const std::string& path,
                             const std::vector<std::string>& own_flag_files,
                             SettingOrigins& origins) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::InvalidArgumentError(absl::StrCat("config: cannot read ", path));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: ", path, ":", e.mark.line + 1, ": not YAML: ", e.msg));
  }
  if (root.IsNull()) return absl::OkStatus();  // an empty file sets nothing
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: ", path, ": expected a mapping of setting names to values"));
  }
  for (const auto& item : root) {
    const std::string where = absl::StrCat(path, ":", item.first.Mark().line + 1);
    if (!item.first.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: ", where, ": a setting name must be a string"));
    }
    const std::string name = item.first.Scalar();
    if (!item.second.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: ", where, ": ", name, ": expected a single value, not a list or mapping"));
    }
    if (absl::Status s = SetOwnFlag(name, item.second.Scalar(), own_flag_files, where, origins);
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("config: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyEnvironment(char** envp, const std::vector<std::string>& own_flag_files,
                              SettingOrigins& origins) {
  for (char** entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
    absl::string_view var = *entry;
    const size_t eq = var.find('=');
    if (eq == absl::string_view::npos) continue;
    absl::string_view name = var.substr(0, eq);
    if (std::find(std::begin(kClientVariables), std::end(kClientVariables), name) !=
        std::end(kClientVariables)) {
      continue;
    }
    if (!absl::ConsumePrefix(&name, kEnvPrefix)) continue;
    const std::string flag = absl::AsciiStrToLower(name);
    if (flag == "config") continue;  // read before: it names the file
    const std::string where(var.substr(0, eq));
    absl::Status s =
        SetOwnFlag(flag, std::string(var.substr(eq + 1)), own_flag_files, where, origins);
    if (!s.ok() && (absl::StartsWith(flag, "service_") || absl::StartsWith(flag, "port"))) {
      // Kubernetes "service links" put CONFCENTER_SERVICE_HOST, CONFCENTER_PORT, ... into
      // every pod of a namespace with a Service named confcenter.
      return absl::InvalidArgumentError(
          absl::StrCat(s.message(),
                       "; Kubernetes sets such variables for a Service named confcenter: set "
                       "enableServiceLinks: false in the pod spec"));
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SettingOrigins> ApplyConfigSources(int argc, char** argv, char** envp,
                                                  const std::vector<std::string>& own_flag_files) {
  SettingOrigins origins;
  std::optional<std::string> file = ConfigFileInArgs(argc, argv);
  if (!file) {
    for (char** entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
      absl::string_view var = *entry;
      if (absl::ConsumePrefix(&var, "CONFCENTER_CONFIG=")) file = std::string(var);
    }
  }
  if (file && !file->empty()) {
    if (absl::Status s = ApplyConfigFile(*file, own_flag_files, origins); !s.ok()) return s;
  }
  if (absl::Status s = ApplyEnvironment(envp, own_flag_files, origins); !s.ok()) return s;
  return origins;
}

std::string DescribeSettings(int argc, char** argv, const SettingOrigins& origins,
                             const std::vector<std::string>& own_flag_files) {
  std::map<std::string, const absl::CommandLineFlag*> own;  // sorted by name
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsOwn(*flag, own_flag_files) && name != "config" && name != "check_config") {
      own.emplace(std::string(name), flag);
    }
  }
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& [name, flag] : own) {
    std::string origin = "default";
    if (OnCommandLine(argc, argv, name)) {
      origin = "command line";
    } else if (auto it = origins.find(name); it != origins.end()) {
      origin = it->second;
    }
    out << YAML::Key << name << YAML::Value << flag->CurrentValue()
        << YAML::Comment(absl::StrCat("from ", origin));
  }
  out << YAML::EndMap;
  return absl::StrCat(out.c_str(), "\n");
}

}  // namespace confcenter
