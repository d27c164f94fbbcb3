// confcenter-agent: one view of a tenant's resolved config rendered as the text of a file
// (JSON, YAML, .properties, an env file, or a mustache template). Pure: no I/O.
#ifndef CONFCENTER_CLIENT_AGENT_RENDER_H_
#define CONFCENTER_CLIENT_AGENT_RENDER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace confcenter::agent {

enum class Format { kJson, kYaml, kProperties, kEnv, kTemplate };

// "json", "yaml", "properties", "env", "template"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Format> ParseFormat(const std::string& name);

// One key of the view.
struct Entry {
  std::string key;
  std::string value;
  bool json = false;  // the value's content type is JSON: embedded as a document, not a string
  std::string source_tenant;
};

// What is rendered: one (tenant, service) at a revision, entries sorted by key.
struct ViewData {
  std::string tenant;
  std::string service;
  int64_t revision = 0;
  std::vector<Entry> entries;
};

class Template;

struct RenderOptions {
  Format format = Format::kJson;
  // JSON and YAML: "db.pool.size" becomes {"db": {"pool": {"size": ...}}}. A key
  // that is also the parent of others ("db" and "db.pool") stays flat at the top level.
  bool nested = false;
  // Env files: a key's variable name is env_prefix + the key upper-cased with every
  // character outside [A-Z0-9_] turned into '_' ("db.pool-size" -> "DB_POOL_SIZE"), unless
  // env_names names it. Two keys that map to one name: the first (in key order) wins.
  std::string env_prefix;
  std::map<std::string, std::string> env_names;
  // kTemplate: the parsed template (required).
  std::shared_ptr<const Template> templ;
};

// A mustache template (kainjow/mustache). Its data: the view's keys nested by dots (so
// {{db.host}} works; a key that is also a parent stays flat), and `_tenant`, `_service`,
// `_revision`, and `_entries`, a list of {key, value, source_tenant} in key order. Values are
// not HTML-escaped.
class Template {
 public:
  // INVALID_ARGUMENT with the parser's reason (e.g. "Unclosed section \"x\" at 12").
  static absl::StatusOr<std::shared_ptr<const Template>> Parse(const std::string& text);
  ~Template();
  std::string Render(const ViewData& view) const;

 private:
  struct Impl;
  explicit Template(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The file's text. INVALID_ARGUMENT if the options do not fit (a template format without a
// template).
absl::StatusOr<std::string> Render(const ViewData& view, const RenderOptions& options);

}  // namespace confcenter::agent

#endif  // CONFCENTER_CLIENT_AGENT_RENDER_H_
