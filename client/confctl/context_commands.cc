// confctl config get-contexts / current-context / use-context / set-context /
// delete-context: the context file (contexts.h), no server contact.
#include <algorithm>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/confctl/commands.h"
#include "client/confctl/contexts.h"
#include "client/confctl/errors.h"
#include "client/confctl/output.h"
#include "common/names.h"

namespace confcenter::confctl {

absl::Status RunGetContexts(const Context& ctx, const std::string& path) {
  absl::StatusOr<ContextFile> file = LoadContextFile(path);
  if (!file.ok()) return file.status();
  Table table({"CURRENT", "NAME", "SERVER", "USER", "TLS", "TOKEN", "OUTPUT", "TENANT"});
  for (const NamedContext& c : file->contexts) {
    table.AddRow({c.name == file->current_context ? "*" : "", c.name, c.server, c.user,
                  c.ca.empty() ? "" : (c.cert.empty() ? "ca" : "mtls"),
                  !c.token_file.empty() ? "file" : (c.token.empty() ? "" : "inline"), c.output,
                  c.tenant});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunCurrentContext(const Context& ctx, const std::string& path) {
  absl::StatusOr<ContextFile> file = LoadContextFile(path);
  if (!file.ok()) return file.status();
  if (file->current_context.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no current context in ", path, " (confctl config use-context NAME)"));
  }
  *ctx.out << file->current_context << "\n";
  return absl::OkStatus();
}

absl::Status RunUseContext(const Context& ctx, const std::string& path, const std::string& name) {
  absl::StatusOr<ContextFile> file = LoadContextFile(path);
  if (!file.ok()) return file.status();
  if (file->Find(name) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("context \"", name, "\" is not in ", path, " (confctl config get-contexts)"));
  }
  file->current_context = name;
  if (absl::Status s = SaveContextFile(path, *file); !s.ok()) return s;
  *ctx.out << "switched to context \"" << name << "\"\n";
  return absl::OkStatus();
}

absl::Status RunSetContext(const Context& ctx, const std::string& path, const NamedContext& given) {
  if (given.name.empty()) return UsageError("NAME is required");
  if (!given.output.empty() && given.output != "table" && given.output != "json" &&
      given.output != "yaml") {
    return UsageError("--output must be table, json or yaml");
  }
  if (!given.tenant.empty()) {
    if (absl::Status s = ValidateTenantName("--tenant", given.tenant); !s.ok()) {
      return UsageError(std::string(s.message()));
    }
  }
  absl::StatusOr<ContextFile> file = LoadContextFile(path);
  if (!file.ok()) return file.status();
  NamedContext* context = file->Find(given.name);
  const bool created = context == nullptr;
  if (created) {
    file->contexts.push_back(NamedContext{given.name});
    context = &file->contexts.back();
  }
  for (auto member :
       {&NamedContext::server, &NamedContext::ca, &NamedContext::cert, &NamedContext::key,
        &NamedContext::server_name, &NamedContext::token, &NamedContext::token_file,
        &NamedContext::user, &NamedContext::output, &NamedContext::tenant}) {
    if (!(given.*member).empty()) context->*member = given.*member;
  }
  if (file->current_context.empty()) file->current_context = given.name;
  if (absl::Status s = SaveContextFile(path, *file); !s.ok()) return s;
  *ctx.out << (created ? "created" : "updated") << " context \"" << given.name << "\" in " << path
           << "\n";
  return absl::OkStatus();
}

absl::Status RunDeleteContext(const Context& ctx, const std::string& path,
                              const std::string& name) {
  absl::StatusOr<ContextFile> file = LoadContextFile(path);
  if (!file.ok()) return file.status();
  if (file->Find(name) == nullptr) {
    return absl::NotFoundError(absl::StrCat("context \"", name, "\" is not in ", path));
  }
  file->contexts.erase(std::remove_if(file->contexts.begin(), file->contexts.end(),
                                      [&name](const NamedContext& c) { return c.name == name; }),
                       file->contexts.end());
  if (file->current_context == name) file->current_context.clear();
  if (absl::Status s = SaveContextFile(path, *file); !s.ok()) return s;
  *ctx.out << "deleted context \"" << name << "\"\n";
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
