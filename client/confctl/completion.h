// Shell completion for confctl, generated from its command tree: subcommands, flags, and
// tenant and service names asked of the server (`confctl __complete tenants|services`).
#ifndef CONFCENTER_CLIENT_CONFCTL_COMPLETION_H_
#define CONFCENTER_CLIENT_CONFCTL_COMPLETION_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/confctl/commands.h"

namespace confcenter::confctl {

// A bash completion script for `app` (the root of confctl's tree): `complete -F _confctl
// confctl`. Positionals named TENANT complete tenant names, SERVICE the services of the
// tenant given before it, both from the server the command line names (--server, --context
// and the credentials flags, else the environment and the current context), within 2 s.
std::string BashCompletion(CLI::App& app);
// The same for zsh, through its bash completion emulation (bashcompinit).
std::string ZshCompletion(CLI::App& app);

// `confctl __complete tenants` / `__complete services TENANT`: the names, one per line, for
// the completion scripts. Every tenant (all pages); the services registered in TENANT and
// its ancestors.
absl::Status RunCompleteNames(const Context& ctx, const std::string& kind,
                              const std::string& tenant);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_COMPLETION_H_
