#include "client/confctl/contexts.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/names.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::confctl {
namespace {

// The YAML name of each field, and where it goes.
const std::vector<std::pair<const char*, std::string NamedContext::*>>& Fields() {
  static const auto* fields = new std::vector<std::pair<const char*, std::string NamedContext::*>>{
      {"server", &NamedContext::server},
      {"ca", &NamedContext::ca},
      {"cert", &NamedContext::cert},
      {"key", &NamedContext::key},
      {"server-name", &NamedContext::server_name},
      {"token", &NamedContext::token},
      {"token-file", &NamedContext::token_file},
      {"user", &NamedContext::user},
      {"output", &NamedContext::output},
      {"tenant", &NamedContext::tenant},
  };
  return *fields;
}

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

const NamedContext* ContextFile::Find(const std::string& name) const {
  for (const NamedContext& c : contexts) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

NamedContext* ContextFile::Find(const std::string& name) {
  for (NamedContext& c : contexts) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string ContextFilePath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (std::string env = Getenv("CONFCENTER_CONFIG"); !env.empty()) return env;
  if (std::string xdg = Getenv("XDG_CONFIG_HOME"); !xdg.empty()) {
    return xdg + "/confcenter/config.yaml";
  }
  return Getenv("HOME") + "/.config/confcenter/config.yaml";
}

absl::StatusOr<ContextFile> LoadContextFile(const std::string& path) {
  ContextFile file;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return file;
  auto invalid = [&path](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", what));
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return invalid(e.what());
  }
  if (root.IsNull()) return file;
  if (!root.IsMap()) return invalid("not a map of current-context and contexts");
  bool has_token = false;
  try {
    for (const auto& top : root) {
      const std::string field = top.first.as<std::string>();
      if (field == "current-context") {
        file.current_context = top.second.as<std::string>();
      } else if (field == "contexts") {
        if (!top.second.IsSequence()) return invalid("contexts: must be a list");
        for (size_t i = 0; i < top.second.size(); ++i) {
          const YAML::Node& node = top.second[i];
          const std::string where = absl::StrCat("contexts[", i, "]");
          if (!node.IsMap()) return invalid(where + ": must be a map");
          NamedContext context;
          for (const auto& entry : node) {
            const std::string name = entry.first.as<std::string>();
            if (name == "name") {
              context.name = entry.second.as<std::string>();
              continue;
            }
            bool known = false;
            for (const auto& [yaml_name, member] : Fields()) {
              if (name != yaml_name) continue;
              context.*member = entry.second.as<std::string>();
              known = true;
            }
            if (!known) return invalid(absl::StrCat(where, ": unknown field \"", name, "\""));
          }
          if (context.name.empty()) return invalid(where + ": name is required");
          if (file.Find(context.name) != nullptr) {
            return invalid(absl::StrCat(where, ": context \"", context.name, "\" twice"));
          }
          if (!context.output.empty() && context.output != "table" && context.output != "json" &&
              context.output != "yaml") {
            return invalid(where + ": output must be table, json or yaml");
          }
          if (!context.tenant.empty()) {
            if (absl::Status s = ValidateTenantName(where + ".tenant", context.tenant); !s.ok()) {
              return invalid(std::string(s.message()));
            }
          }
          has_token = has_token || !context.token.empty();
          file.contexts.push_back(std::move(context));
        }
      } else {
        return invalid(absl::StrCat("unknown field \"", field, "\""));
      }
    }
  } catch (const YAML::Exception& e) {
    return invalid(e.what());
  }
  struct stat st {};
  if (has_token && stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "config file %s holds a token but others may read it (mode %04o): chmod 600 %s", path,
        st.st_mode & 07777, path));
  }
  return file;
}

absl::Status SaveContextFile(const std::string& path, const ContextFile& file) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!file.current_context.empty())
    out << YAML::Key << "current-context" << YAML::Value << file.current_context;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq;
  for (const NamedContext& c : file.contexts) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << c.name;
    for (const auto& [yaml_name, member] : Fields()) {
      if (!(c.*member).empty()) out << YAML::Key << yaml_name << YAML::Value << c.*member;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  std::error_code ec;
  const std::filesystem::path target(path);
  if (target.has_parent_path() && !std::filesystem::exists(target.parent_path(), ec)) {
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", target.parent_path().string(), ": ", ec.message()));
    }
    std::filesystem::permissions(target.parent_path(), std::filesystem::perms::owner_all, ec);
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream stream(tmp, std::ios::trunc);
    if (!stream) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    std::filesystem::permissions(
        tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
    stream << out.c_str() << "\n";
    if (!stream.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
