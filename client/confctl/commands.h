// The confctl commands. Each takes its parsed arguments, talks to the server through the
// Context's client, prints its result to ctx.out in ctx.format, and returns OK or the error
// to report (see errors.h for the exit codes).
#ifndef CONFCENTER_CLIENT_CONFCTL_COMMANDS_H_
#define CONFCENTER_CLIENT_CONFCTL_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/confctl/contexts.h"
#include "client/confctl/output.h"
#include "confcenter/client.h"

namespace confcenter::confctl {

// What every command gets: the client (not used by tenant-name) and where/how to print.
struct Context {
  Client* client = nullptr;
  OutputFormat format = OutputFormat::kTable;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // --timeout: the deadline of each call (and of connecting, for watch).
  absl::Duration timeout = absl::Seconds(5);
};

// (tenant, service, key) of the single-key commands.
struct KeyArgs {
  std::string tenant;
  std::string service;
  std::string key;
};

struct PutArgs {
  KeyArgs key;
  std::string value;
  std::string content_type = "text";  // text, json, yaml or properties
  std::optional<int64_t> expected_revision;
};

struct ListArgs {
  std::string tenant;
  std::string service;
  std::string prefix;
};

struct WatchArgs {
  std::string tenant;
  std::vector<std::string> services;
  std::optional<int64_t> from_revision;
  std::string epoch;  // the epoch of from_revision; empty = the current one
  int64_t count = 0;  // stop after this many EVENTS messages; 0 = never
};

struct RegisterArgs {
  std::string tenant;
  std::string parent;
  bool root = false;
  std::vector<std::string> services;
  std::vector<std::string> labels;  // "K=V", applied to every service
  std::vector<std::string> files;   // service definition files (-f)
  bool force = false;               // accept version conflicts as warnings
  std::string ttl;                  // e.g. "72h"; empty = keep the current TTL
  bool keep = false;                // keep the tenant when its last service goes
};

struct DependenciesArgs {
  std::string tenant;
  std::string service;
};

struct InstancesArgs {
  std::string tenant;
  std::string service;  // empty = every service
};

struct WaitAppliedArgs {
  std::string tenant;
  std::string service;  // empty = every service
  int64_t revision = 0;
  std::string timeout = "60s";
};

struct DeregisterArgs {
  std::string tenant;
  std::vector<std::string> services;
  bool all = false;
  bool force = false;
};

struct ImportArgs {
  std::string tenant;
  std::string service;
  std::string file;    // "-" = stdin
  std::string format;  // empty = from the file's extension
  int max_txn_ops = 128;
};

struct ExportArgs {
  std::string tenant;
  std::string service;
  bool own = false;  // own entries (List) instead of the resolved view (Resolve)
  std::string format = "yaml";
  std::string file = "-";  // "-" = stdout
};

// Put: prints "put T/S/K at revision R" (table) or the PutResponse.
absl::Status RunPut(const Context& ctx, const PutArgs& args);
// Get: a one-row table of the own entry (value cut) or the GetResponse.
absl::Status RunGet(const Context& ctx, const KeyArgs& args);
// Delete / Mask: a line with the revision, or the response.
absl::Status RunDelete(const Context& ctx, const KeyArgs& args,
                       std::optional<int64_t> expected_revision);
absl::Status RunMask(const Context& ctx, const KeyArgs& args,
                     std::optional<int64_t> expected_revision);
// List: every page, one table (SERVICE KEY KIND TYPE REVISION VALUE) or one ListResponse
// holding all entries (revision of the last page, no next_page_token).
absl::Status RunList(const Context& ctx, const ListArgs& args);
// Resolve: table SERVICE KEY VALUE SOURCE REVISION TYPE, or the ResolveResponse.
absl::Status RunResolve(const Context& ctx, const std::string& tenant,
                        const std::vector<std::string>& services);
// Txn from a YAML/JSON file ("-" = stdin): a line with the revision, or the TxnResponse.
// `message` is the release message (--message).
absl::Status RunTxn(const Context& ctx, const std::string& file, const std::string& message = "");
// Watch: streams events until --count EVENTS messages, the end of the stream, or an error.
absl::Status RunWatch(const Context& ctx, const WatchArgs& args);

// Every tenant, all pages of ListTenants in one response (its revision: the last page's).
absl::StatusOr<v1::ListTenantsResponse> ListAllTenants(const Context& ctx);
// Tenants: every page; table NAME PARENT SERVICES CHILDREN KEYS REVISION, or one
// ListTenantsResponse with all tenants.
absl::Status RunTenants(const Context& ctx);
// Tenant: a FIELD VALUE table of one tenant, or the GetTenantResponse.
absl::Status RunTenant(const Context& ctx, const std::string& tenant);
absl::Status RunRegister(const Context& ctx, const RegisterArgs& args);
absl::Status RunDeregister(const Context& ctx, const DeregisterArgs& args);
// deps: the service's dependency map in the tenant's view (ResolveDependencies).
absl::Status RunDependencies(const Context& ctx, const DependenciesArgs& args);
// instances: who follows the tenant's view (ListInstances): table SERVICE INSTANCE HOST
// APPLIED CURRENT SELF-CHECK CONNECTED, or the ListInstancesResponse.
absl::Status RunInstances(const Context& ctx, const InstancesArgs& args);
// wait-applied: waits until every instance of the tenant (or service) has applied the
// revision (WaitApplied); prints the count, or the laggards and exits 8 (NotAppliedError).
absl::Status RunWaitApplied(const Context& ctx, const WaitAppliedArgs& args);
// touch: renews the tenant's TTL.
absl::Status RunTouch(const Context& ctx, const std::string& tenant);
// tenant-name: prints NormalizeTenantName(branch), or "integration" when `branch` is
// `integration_branch` (if given: the branch that deploys to the shared environment); no
// server contact. INVALID_ARGUMENT if nothing is left of the branch name.
absl::Status RunTenantName(const Context& ctx, const std::string& branch,
                           const std::string& integration_branch);

// Import: decodes the file, validates every key, and PUTs all keys as text with as few Txns
// as the op limit (and an 4 MiB request budget) allows, saying so on ctx.err when it needs
// more than one (then the import is not atomic).
absl::Status RunImport(const Context& ctx, const ImportArgs& args);
// Export: the resolved view (or own values; masks are skipped) of one service, encoded as
// YAML, JSON or properties, written to the file or stdout. ctx.format does not apply.
absl::Status RunExport(const Context& ctx, const ExportArgs& args);

struct HistoryArgs {
  std::string tenant;
  std::string service;
  std::string key;
  std::string prefix;
  int limit = 100;  // versions to print at most (all pages up to it)
};

struct RollbackArgs {
  std::string tenant;
  std::string service;
  std::string key;
  int64_t to_revision = 0;
  std::string message;
  bool dry_run = false;
};

struct DiffArgs {
  std::string tenant;
  std::string other_tenant;              // two tenants' resolved views
  bool parent = false;                   // the tenant against its parent
  std::optional<int64_t> from_revision;  // the tenant at two revisions
  int64_t to_revision = 0;               // 0 = current
  bool own = false;                      // own entries instead of resolved views
  std::vector<std::string> services;
};

struct AuditArgs {
  std::string tenant;
  std::string user;
  std::string rpc;
  std::string since;  // RFC 3339 time, or a duration ago ("1h")
  std::string until;
  int limit = 100;
};

// History: table SERVICE KEY REVISION KIND AUTHOR TIME RELEASE VALUE (newest first per key),
// or one HistoryResponse with all versions fetched (up to --limit).
absl::Status RunHistory(const Context& ctx, const HistoryArgs& args);
// Releases of a tenant (all if empty), newest first: table ID TIME AUTHOR ORIGIN TENANTS
// CHANGES MESSAGE, or one ListReleasesResponse.
absl::Status RunReleases(const Context& ctx, const std::string& tenant, int limit);
// One release: its header lines and a table TENANT SERVICE KEY BEFORE AFTER, or the response.
absl::Status RunRelease(const Context& ctx, int64_t release_id);
// Rollback (or its dry run): a summary line and a table SERVICE KEY BEFORE AFTER, or the
// RollbackResponse.
absl::Status RunRollback(const Context& ctx, const RollbackArgs& args);
// Diff: table TYPE SERVICE KEY LEFT LEFT-SOURCE RIGHT RIGHT-SOURCE, or the DiffResponse.
// Usage error unless exactly one of OTHER, --parent, --from-revision says the mode.
absl::Status RunDiff(const Context& ctx, const DiffArgs& args);
// The context file's commands (contexts.h; no server contact). `path`: ContextFilePath's.
// get-contexts: table CURRENT NAME SERVER USER TLS TOKEN OUTPUT. current-context: the name
// (NOT_FOUND if none). use-context: makes NAME current (NOT_FOUND if missing). set-context:
// creates or updates NAME with the non-empty fields of `given` (the first one made is
// current); the file is written 0600. delete-context: removes it.
absl::Status RunGetContexts(const Context& ctx, const std::string& path);
absl::Status RunCurrentContext(const Context& ctx, const std::string& path);
absl::Status RunUseContext(const Context& ctx, const std::string& path, const std::string& name);
absl::Status RunSetContext(const Context& ctx, const std::string& path, const NamedContext& given);
absl::Status RunDeleteContext(const Context& ctx, const std::string& path, const std::string& name);

struct DoctorArgs {
  std::string server;   // as resolved from flag, environment or context
  std::string context;  // the context used, if any
  Credentials credentials;
};

// Doctor: one line per check (ok / warn / FAIL, and what to fix): the settings in use, the
// token (a JWT's expiry, read locally), connecting (TLS), the identity the server sees, the
// server's release and API against confctl's, and clock skew. OK if nothing failed, else the
// first failure's code (UNAVAILABLE when the server is down: exit 5).
absl::Status RunDoctor(const Context& ctx, const DoctorArgs& args);

struct ExplainArgs {
  std::string tenant;
  std::string service;
  std::string key;
};

// Explain: the outcome in one line ("orders/timeout = 2s from f1" or "... is not set"), a
// table TENANT ENTRY VALUE REVISION AUTHOR RELEASE ORIGIN TIME (the chain from the tenant up,
// "<-" marking the entry that decides), then the gray release or drafts that would change it;
// or the ExplainResponse.
absl::Status RunExplain(const Context& ctx, const ExplainArgs& args);
// Audit: table TIME USER RPC TARGETS RESULT PEER (newest first), or one QueryAuditResponse.
absl::Status RunAudit(const Context& ctx, const AuditArgs& args);

struct RestoreArgs {
  std::string backup_dir;
  std::string data_dir;
};

// Backup: the server's online backup into `dir` (new or empty), checked; prints "backup of
// revision R in DIR: N files, B bytes, S s", or the manifest with dir and seconds.
absl::Status RunBackup(const Context& ctx, const std::string& dir);
// Restore, offline: checks the backup against its manifest while copying it into a new (or
// empty) data dir; prints the revision and the confcenterd command to run next, or the
// manifest with data_dir and next.
absl::Status RunRestore(const Context& ctx, const RestoreArgs& args);
// Rotate-secret-key: AdminService.RotateSecretKey; prints the key ids and what was re-sealed,
// and whether the old keys can go.
absl::Status RunRotateSecretKey(const Context& ctx);

struct ReviewArgs {
  std::string tenant;
  bool drafts_required = false;
  bool publisher_not_author = false;
};

// draft create / draft update.
struct DraftChangeArgs {
  std::string tenant;
  int64_t draft_id = 0;                 // update
  std::vector<std::string> set;         // SERVICE/KEY=VALUE
  std::vector<std::string> remove_own;  // SERVICE/KEY: remove the own entry
  std::vector<std::string> mask;        // SERVICE/KEY
  std::vector<std::string> drop;        // update: SERVICE/KEY changes dropped from the draft
  std::string message;
};

struct PublishArgs {
  std::string tenant;
  int64_t draft_id = 0;
  bool rebase = false;
  std::string message;
};

struct PromoteArgs {
  std::string from_tenant;
  std::string to_tenant;
  std::vector<std::string> services;
  bool dry_run = false;
  bool remove_missing = false;
  std::string message;
};

struct ResetArgs {
  std::string tenant;
  std::vector<std::string> services;
  bool dry_run = false;
  std::string message;
};

struct GrayArgs {
  std::string tenant;
  int64_t draft_id = 0;           // start from this draft, or:
  std::vector<std::string> set;   // SERVICE/KEY=VALUE
  std::vector<std::string> mask;  // SERVICE/KEY
  std::string selector;           // label selector, e.g. "zone=canary"
  std::vector<std::string> instances;
  int percentage = 0;
  std::string service;
  std::string message;
  int64_t gray_release_id = 0;  // promote, abort: 0 = whichever is open
  bool rebase = false;          // promote
};

// gray start / show: the gray release (id, audience, changes, the instances in it), or the
// GrayResponse.
absl::Status RunGrayStart(const Context& ctx, const GrayArgs& args);
absl::Status RunGrayShow(const Context& ctx, const std::string& tenant);
// gray promote / abort: a line with the revision, or the response.
absl::Status RunGrayEnd(const Context& ctx, const GrayArgs& args, bool promote);

// review: sets how changes reach a tenant (SetReview); prints it.
absl::Status RunReview(const Context& ctx, const ReviewArgs& args);
// drafts: a tenant's drafts, table ID AUTHOR AGE CHANGES ORIGIN MESSAGE, or the response.
absl::Status RunDrafts(const Context& ctx, const std::string& tenant);
// draft create / update / show: the draft's header, blast radius, conflicts and its diff
// against the current view (table TYPE SERVICE KEY NOW SOURCE AFTER), or the DraftResponse.
absl::Status RunDraftCreate(const Context& ctx, const DraftChangeArgs& args);
absl::Status RunDraftUpdate(const Context& ctx, const DraftChangeArgs& args);
absl::Status RunDraftShow(const Context& ctx, const std::string& tenant, int64_t draft_id);
// draft discard / publish: a line, or the response.
absl::Status RunDraftDiscard(const Context& ctx, const std::string& tenant, int64_t draft_id);
absl::Status RunDraftPublish(const Context& ctx, const PublishArgs& args);
// promote / reset: the diff, then what was made (release, draft, or nothing: a dry run), or
// the response.
absl::Status RunPromote(const Context& ctx, const PromoteArgs& args);
absl::Status RunReset(const Context& ctx, const ResetArgs& args);

struct RoutesArgs {
  std::string tenant;
  std::string output;  // k8s, json or envoy; empty = json under the global -o json, else k8s
  std::string mesh;    // "istio" adds VirtualServices and DestinationRules to k8s; empty = none
  std::string header = "x-confcenter-tenant";  // the header the routes match on
};

// routes render: the routing of the tenant for services that do not use the client library
// (routes.h, docs/routing.md): k8s objects as multi-document YAML, the JSON route table, or
// an Envoy RouteConfiguration, on ctx.out; what cannot be routed is a warning on ctx.err.
// NOT_FOUND if the tenant does not exist; a usage error for a bad --output, --mesh, --header.
absl::Status RunRoutesRender(const Context& ctx, const RoutesArgs& args);

// Reads a whole file ("-" = stdin). A file that cannot be read is a usage error.
absl::StatusOr<std::string> ReadInput(const std::string& path);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_COMMANDS_H_
