// confctl's contexts: named sets of connection settings (server, TLS files, token, user,
// output format) in a YAML file, so an operator who works with several environments does not
// retype them (docs/confctl.md#contexts). Like kubectl's kubeconfig:
//
//   current-context: pre
//   contexts:
//   - name: pre
//     server: 10.0.1.11:7070,10.0.1.12:7070
//     ca: /etc/confcenter/pre-ca.pem
//     token-file: /run/secrets/confcenter-pre
//     output: table
//
// Precedence of each setting: command-line flag > environment variable > the context >
// default.
#ifndef CONFCENTER_CLIENT_CONFCTL_CONTEXTS_H_
#define CONFCENTER_CLIENT_CONFCTL_CONTEXTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace confcenter::confctl {

// One context. Empty fields are not set by it.
struct NamedContext {
  std::string name;
  std::string server;
  std::string ca;
  std::string cert;
  std::string key;
  std::string server_name;
  std::string token;  // refused unless the file is 0600 (or stricter)
  std::string token_file;
  std::string user;
  std::string output;  // table, json or yaml
  // Fills a TENANT argument left out: see DefaultTenantArgs.
  std::string tenant;
};

struct ContextFile {
  std::string current_context;
  std::vector<NamedContext> contexts;  // in file order

  // The context named `name`, or nullptr.
  const NamedContext* Find(const std::string& name) const;
  NamedContext* Find(const std::string& name);
};

// Where the file is: `flag` (--config) if set, else $CONFCENTER_CONFIG, else
// $XDG_CONFIG_HOME/confcenter/config.yaml, else ~/.config/confcenter/config.yaml.
std::string ContextFilePath(const std::string& flag);

// Reads the file; a missing file is an empty one. Errors: INVALID_ARGUMENT naming the file
// and the problem (not YAML, an unknown field, a context without a name or twice, an output
// that is not table/json/yaml); FAILED_PRECONDITION if a context holds a token and the file
// can be read by others than its owner (mode not 0600 or stricter).
absl::StatusOr<ContextFile> LoadContextFile(const std::string& path);

// Writes the file atomically with mode 0600 (creating its directory, 0700).
absl::Status SaveContextFile(const std::string& path, const ContextFile& file);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_CONTEXTS_H_
