// confctl: the command line of confcenter. See `confctl --help` and commands.h.
#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/confctl/commands.h"
#include "client/confctl/completion.h"
#include "client/confctl/errors.h"
#include "client/confctl/output.h"

namespace confcenter::confctl {
namespace {

using Runner = std::function<absl::Status(const Context&)>;

struct GlobalOptions {
  std::string server = "127.0.0.1:7070";
  std::string output = "table";
  std::string timeout = "5s";
  std::string user;
  Credentials credentials;
  std::string config_file;   // --config: the context file (contexts.h)
  std::string context;       // --context: the context to use instead of the current one
  std::string used_context;  // the context that filled settings (ApplyContext), if any
  // Each setting a context may give, with its option: the context fills it only when neither
  // the flag nor its environment variable did (option->count() == 0).
  struct FromContext {
    CLI::Option* option;
    std::string* target;
    std::string NamedContext::*field;
  };
  std::vector<FromContext> from_context;
};

// The subcommands, each with what runs it once it is the one given.
class Commands {
 public:
  explicit Commands(CLI::App* app) : app_(app) {}

  // Adds a subcommand; `runner` runs when it was given on the command line.
  CLI::App* Add(const std::string& name, const std::string& description, Runner runner) {
    CLI::App* sub = app_->add_subcommand(name, description);
    runners_.emplace_back(sub, std::move(runner));
    return sub;
  }
  // Adds a subcommand of `parent` (a command group such as `draft`).
  CLI::App* AddUnder(CLI::App* parent, const std::string& name, const std::string& description,
                     Runner runner) {
    CLI::App* sub = parent->add_subcommand(name, description);
    runners_.emplace_back(sub, std::move(runner));
    return sub;
  }
  // Adds a subcommand that never contacts the server (its credentials are not loaded).
  CLI::App* AddOffline(const std::string& name, const std::string& description, Runner runner) {
    CLI::App* sub = Add(name, description, std::move(runner));
    offline_.push_back(sub);
    return sub;
  }
  // AddUnder for a subcommand that never contacts the server.
  CLI::App* AddOfflineUnder(CLI::App* parent, const std::string& name,
                            const std::string& description, Runner runner) {
    CLI::App* sub = AddUnder(parent, name, description, std::move(runner));
    offline_.push_back(sub);
    return sub;
  }

  // The runner of the subcommand that was parsed (empty if none).
  Runner Selected() const {
    for (const auto& [sub, runner] : runners_) {
      if (sub->parsed()) return runner;
    }
    return nullptr;
  }
  // Whether the parsed subcommand is one of AddOffline's.
  bool SelectedIsOffline() const {
    for (const CLI::App* sub : offline_) {
      if (sub->parsed()) return true;
    }
    return false;
  }

 private:
  CLI::App* app_;
  std::vector<std::pair<CLI::App*, Runner>> runners_;
  std::vector<const CLI::App*> offline_;
};

// The value of an optional int64 option: set only if given on the command line.
std::optional<int64_t> IfGiven(const CLI::Option* option, int64_t value) {
  if (option == nullptr || option->count() == 0) return std::nullopt;
  return value;
}

// All the state the parsed command line writes into; it outlives parsing.
struct Args {
  GlobalOptions global;
  // completion SHELL; __complete KIND [TENANT].
  std::string completion_shell, complete_kind, complete_tenant;
  PutArgs put;
  CLI::Option* put_expected = nullptr;
  int64_t put_expected_value = 0;
  KeyArgs key;
  int64_t expected_value = 0;
  ListArgs list;
  std::string tenant;
  std::vector<std::string> services;
  std::string txn_file;
  WatchArgs watch;
  CLI::Option* from_revision = nullptr;
  int64_t from_revision_value = 0;
  RegisterArgs reg;
  DeregisterArgs dereg;
  DependenciesArgs deps;
  InstancesArgs instances;
  WaitAppliedArgs wait_applied;
  std::string touched;
  ImportArgs import;
  ExportArgs exp;
  std::string branch;
  std::string integration_branch;
  std::string txn_message;
  HistoryArgs history;
  ExplainArgs explain;
  NamedContext set_context;
  std::vector<std::string> reg_services;         // register's positional SERVICE...
  std::string restore_backup, restore_data_dir;  // restore's positional BACKUP DATA_DIR
  std::string context_name;
  std::string releases_tenant;
  int releases_limit = 100;
  int64_t release_id = 0;
  RollbackArgs rollback;
  DiffArgs diff;
  CLI::Option* diff_from = nullptr;
  int64_t diff_from_value = 0;
  AuditArgs audit;
  std::string backup_dir;
  RestoreArgs restore;
  ReviewArgs review;
  std::string drafts_tenant;
  DraftChangeArgs draft;
  PublishArgs publish;
  PromoteArgs promote;
  ResetArgs reset;
  GrayArgs gray;
  RoutesArgs routes;
};

void AddKeyPositionals(CLI::App* sub, KeyArgs* key) {
  sub->add_option("TENANT", key->tenant, "tenant")->required();
  sub->add_option("SERVICE", key->service, "service")->required();
  sub->add_option("KEY", key->key, "dotted config key")->required();
}

using KeyWrite = absl::Status (*)(const Context&, const KeyArgs&, std::optional<int64_t>);

// delete and mask: TENANT SERVICE KEY [--expected-revision N].
void AddKeyWriteCommand(Commands* commands, const std::string& name, const std::string& description,
                        KeyWrite run, Args* a) {
  auto expected = std::make_shared<CLI::Option*>(nullptr);
  CLI::App* sub = commands->Add(name, description, [a, run, expected](const Context& ctx) {
    return run(ctx, a->key, IfGiven(*expected, a->expected_value));
  });
  AddKeyPositionals(sub, &a->key);
  *expected = sub->add_option("--expected-revision", a->expected_value,
                              "compare-and-set: only if the own entry is at this revision");
}

// TLS and the bearer token; each falls back to its environment variable (the names of
// Credentials::FromEnvironment).
void AddCredentialOptions(CLI::App* app, GlobalOptions* global) {
  Credentials* credentials = &global->credentials;
  auto& from_context = global->from_context;
  from_context.push_back(
      {app->add_option("--ca", credentials->ca_file,
                       "PEM file of the CA the server's certificate must chain to; turns TLS on "
                       "(else $CONFCENTER_CA, else the context's)")
           ->envname("CONFCENTER_CA"),
       &credentials->ca_file, &NamedContext::ca});
  from_context.push_back(
      {app->add_option("--cert", credentials->cert_file,
                       "PEM client certificate for mutual TLS, with --key (else $CONFCENTER_CERT)")
           ->envname("CONFCENTER_CERT"),
       &credentials->cert_file, &NamedContext::cert});
  from_context.push_back({app->add_option("--key", credentials->key_file,
                                          "PEM private key of --cert (else $CONFCENTER_KEY)")
                              ->envname("CONFCENTER_KEY"),
                          &credentials->key_file, &NamedContext::key});
  from_context.push_back(
      {app->add_option("--server-name", credentials->server_name,
                       "name to check the server's certificate against (default: the host of "
                       "--server)"),
       &credentials->server_name, &NamedContext::server_name});
  from_context.push_back(
      {app->add_option("--token", credentials->token,
                       "bearer token sent with every call (else $CONFCENTER_TOKEN; prefer the "
                       "variable or --token-file: arguments are visible to other users)")
           ->envname("CONFCENTER_TOKEN"),
       &credentials->token, &NamedContext::token});
  from_context.push_back(
      {app->add_option("--token-file", credentials->token_file,
                       "file holding the bearer token, re-read when it changes (else "
                       "$CONFCENTER_TOKEN_FILE)")
           ->envname("CONFCENTER_TOKEN_FILE"),
       &credentials->token_file, &NamedContext::token_file});
}

void AddGlobalOptions(CLI::App* app, GlobalOptions* global) {
  global->from_context.push_back(
      {app->add_option("--server,--address", global->server,
                       "confcenterd address host:port, dns:///name:port, or the replicas as a "
                       "list ip:port,ip:port tried in order (else $CONFCENTER_ADDR, else the "
                       "context's, else 127.0.0.1:7070)")
           ->envname("CONFCENTER_ADDR"),
       &global->server, &NamedContext::server});
  global->from_context.push_back({app->add_option("-o,--output", global->output,
                                                  "output: table (people), json or yaml (scripts)")
                                      ->check(CLI::IsMember({"table", "json", "yaml"}))
                                      ->capture_default_str(),
                                  &global->output, &NamedContext::output});
  app->add_option("--timeout", global->timeout,
                  "deadline of each call, e.g. 500ms, 5s, 1m (a bare number is seconds)")
      ->capture_default_str();
  global->from_context.push_back(
      {app->add_option("--user", global->user, "who makes the change (sent as x-confcenter-user)")
           ->envname("CONFCENTER_USER"),
       &global->user, &NamedContext::user});
  AddCredentialOptions(app, global);
  app->add_option("--config", global->config_file,
                  "the context file (else $CONFCENTER_CONFIG, else "
                  "~/.config/confcenter/config.yaml)");
  app->add_option("--context", global->context,
                  "use this context of the file instead of its current one");
}

// Fills the settings that neither a flag nor the environment gave from the context (--context,
// else the file's current one). No file and no --context: nothing to do.
absl::Status ApplyContext(GlobalOptions* global) {
  const std::string path = ContextFilePath(global->config_file);
  absl::StatusOr<ContextFile> file = LoadContextFile(path);
  if (!file.ok()) return file.status();
  const std::string name = !global->context.empty() ? global->context : file->current_context;
  if (name.empty()) return absl::OkStatus();
  const NamedContext* context = file->Find(name);
  if (context == nullptr) {
    return UsageError(absl::StrCat("--context: no context \"", name, "\" in ", path,
                                   " (confctl config get-contexts)"));
  }
  global->used_context = name;
  for (const GlobalOptions::FromContext& setting : global->from_context) {
    if (setting.option->count() > 0 || (context->*setting.field).empty()) continue;
    *setting.target = context->*setting.field;
  }
  return absl::OkStatus();
}

void AddConfigCommands(Commands* commands, Args* a) {
  CLI::App* put = commands->Add("put", "set a tenant's own value", [a](const Context& ctx) {
    a->put.expected_revision = IfGiven(a->put_expected, a->put_expected_value);
    return RunPut(ctx, a->put);
  });
  AddKeyPositionals(put, &a->put.key);
  put->add_option("VALUE", a->put.value, "the value (use -- before a value starting with -)")
      ->required();
  put->add_option("--content-type", a->put.content_type, "how the value is parsed")
      ->check(CLI::IsMember({"text", "json", "yaml", "properties"}))
      ->capture_default_str();
  a->put_expected = put->add_option("--expected-revision", a->put_expected_value,
                                    "compare-and-set: 0 = must not exist, N = own entry at N");

  CLI::App* get = commands->Add("get", "read a tenant's own entry (unresolved)",
                                [a](const Context& ctx) { return RunGet(ctx, a->key); });
  AddKeyPositionals(get, &a->key);

  AddKeyWriteCommand(commands, "delete",
                     "remove a tenant's own entry (the key falls back to the parent)", RunDelete,
                     a);
  AddKeyWriteCommand(commands, "mask", "hide a parent's key in this tenant's view", RunMask, a);

  CLI::App* list = commands->Add("list", "a tenant's own entries (all pages)",
                                 [a](const Context& ctx) { return RunList(ctx, a->list); });
  list->add_option("TENANT", a->list.tenant, "tenant")->required();
  list->add_option("--service", a->list.service, "only this service");
  list->add_option("--prefix", a->list.prefix, "only keys starting with this");

  CLI::App* resolve =
      commands->Add("resolve", "the merged view of a tenant, with the SOURCE tenant of each key",
                    [a](const Context& ctx) { return RunResolve(ctx, a->tenant, a->services); });
  resolve->add_option("TENANT", a->tenant, "tenant")->required();
  resolve->add_option("SERVICE", a->services, "services (default: all)");

  CLI::App* txn =
      commands->Add("txn", "apply puts, deletes and masks atomically from a YAML or JSON file",
                    [a](const Context& ctx) { return RunTxn(ctx, a->txn_file, a->txn_message); });
  txn->add_option("-f,--file", a->txn_file,
                  "list of {type: put|delete|mask, tenant, service, key, value, content_type, "
                  "expected_revision}; - = stdin")
      ->required();
  txn->add_option("-m,--message", a->txn_message,
                  "release message kept with the commit (see releases / release)");
}

void AddHistoryCommands(Commands* commands, Args* a) {
  CLI::App* history =
      commands->Add("history", "every version of a tenant's keys (newest first per key)",
                    [a](const Context& ctx) { return RunHistory(ctx, a->history); });
  history->add_option("TENANT", a->history.tenant, "tenant")->required();
  history->add_option("SERVICE", a->history.service, "only this service");
  history->add_option("KEY", a->history.key, "only this key");
  history->add_option("--prefix", a->history.prefix, "only keys starting with this");
  history->add_option("--limit", a->history.limit, "print at most N versions")
      ->capture_default_str();

  CLI::App* explain =
      commands->Add("explain",
                    "why a key resolves as it does: the chain, each tenant's entry, "
                    "who set the deciding one, and drafts or gray releases pending",
                    [a](const Context& ctx) { return RunExplain(ctx, a->explain); });
  explain->add_option("TENANT", a->explain.tenant, "tenant")->required();
  explain->add_option("SERVICE", a->explain.service, "service")->required();
  explain->add_option("KEY", a->explain.key, "key")->required();

  CLI::App* releases = commands->Add(
      "releases", "releases (Txn and rollback commits) of a tenant, newest first",
      [a](const Context& ctx) { return RunReleases(ctx, a->releases_tenant, a->releases_limit); });
  releases->add_option("TENANT", a->releases_tenant, "tenant (default: every tenant)");
  releases->add_option("--limit", a->releases_limit, "print at most N releases")
      ->capture_default_str();

  CLI::App* release =
      commands->Add("release", "one release with all its changes",
                    [a](const Context& ctx) { return RunRelease(ctx, a->release_id); });
  release->add_option("ID", a->release_id, "release id (its revision)")->required();

  CLI::App* rollback = commands->Add(
      "rollback", "restore a key, a service or a tenant to an earlier revision (one new revision)",
      [a](const Context& ctx) { return RunRollback(ctx, a->rollback); });
  rollback->add_option("TENANT", a->rollback.tenant, "tenant")->required();
  rollback->add_option("--to-revision", a->rollback.to_revision, "the revision to return to")
      ->required();
  rollback->add_option("--service", a->rollback.service, "only this service");
  rollback->add_option("--key", a->rollback.key, "only this key (needs --service)");
  rollback->add_option("-m,--message", a->rollback.message,
                       "release message (default \"rollback to revision N\")");
  rollback->add_flag("--dry-run", a->rollback.dry_run, "show what would change, write nothing");

  CLI::App* diff = commands->Add(
      "diff",
      "compare resolved views: TENANT OTHER (two tenants), TENANT --parent, or TENANT "
      "--from-revision R1 [--to-revision R2] [--own]",
      [a](const Context& ctx) {
        a->diff.from_revision = IfGiven(a->diff_from, a->diff_from_value);
        return RunDiff(ctx, a->diff);
      });
  diff->add_option("TENANT", a->diff.tenant, "tenant (the left side of two tenants)")->required();
  diff->add_option("OTHER", a->diff.other_tenant, "the right tenant");
  diff->add_flag("--parent", a->diff.parent, "the tenant against its parent's view");
  a->diff_from = diff->add_option("--from-revision", a->diff_from_value,
                                  "the tenant at this revision (left) ...");
  diff->add_option("--to-revision", a->diff.to_revision, "... against this one (default: now)");
  diff->add_flag("--own", a->diff.own, "with --from-revision: own entries, masks included");
  diff->add_option("--service", a->diff.services, "only this service (repeatable)");

  CLI::App* audit = commands->Add("audit", "the audit log of write attempts, newest first",
                                  [a](const Context& ctx) { return RunAudit(ctx, a->audit); });
  audit->add_option("--tenant", a->audit.tenant, "only attempts naming this tenant");
  audit->add_option("--user", a->audit.user, "only this user");
  audit->add_option("--rpc", a->audit.rpc, "only this RPC (Put, Txn, Rollback...)");
  audit->add_option("--since", a->audit.since, "RFC 3339 time or a duration ago (24h)");
  audit->add_option("--until", a->audit.until, "RFC 3339 time or a duration ago");
  audit->add_option("--limit", a->audit.limit, "print at most N records")->capture_default_str();
}

void AddReleaseCommands(Commands* commands, CLI::App* app, Args* a) {
  CLI::App* review = commands->Add("review", "set how changes reach a tenant (admin)",
                                   [a](const Context& ctx) { return RunReview(ctx, a->review); });
  review->add_option("TENANT", a->review.tenant, "tenant")->required();
  review->add_flag("--drafts-required", a->review.drafts_required,
                   "entry writes are refused: changes are drafts a publisher publishes");
  review->add_flag("--publisher-not-author", a->review.publisher_not_author,
                   "a draft is published by someone other than its author");

  CLI::App* drafts =
      commands->Add("drafts", "a tenant's drafts waiting for review",
                    [a](const Context& ctx) { return RunDrafts(ctx, a->drafts_tenant); });
  drafts->add_option("TENANT", a->drafts_tenant, "tenant")->required();

  CLI::App* draft =
      app->add_subcommand("draft", "create, show, update, discard or publish a draft");
  draft->require_subcommand(1);
  draft->fallthrough();
  auto add_changes = [a](CLI::App* sub) {
    sub->add_option("--set", a->draft.set, "SERVICE/KEY=VALUE: set the value (repeatable)");
    sub->add_option("--delete", a->draft.remove_own,
                    "SERVICE/KEY: remove the tenant's own entry (repeatable)");
    sub->add_option("--mask", a->draft.mask, "SERVICE/KEY: hide the key (repeatable)");
    sub->add_option("-m,--message", a->draft.message, "the release message");
  };
  CLI::App* create =
      commands->AddUnder(draft, "create", "a new draft of changes to a tenant; nothing goes live",
                         [a](const Context& ctx) { return RunDraftCreate(ctx, a->draft); });
  create->add_option("TENANT", a->draft.tenant, "tenant")->required();
  add_changes(create);
  CLI::App* update =
      commands->AddUnder(draft, "update", "add, replace or drop changes of a draft",
                         [a](const Context& ctx) { return RunDraftUpdate(ctx, a->draft); });
  update->add_option("TENANT", a->draft.tenant, "tenant")->required();
  update->add_option("ID", a->draft.draft_id, "draft id")->required();
  add_changes(update);
  update->add_option("--drop", a->draft.drop, "SERVICE/KEY: drop its change (repeatable)");
  CLI::App* show = commands->AddUnder(
      draft, "show", "a draft: its diff against the view now, its reach, its conflicts",
      [a](const Context& ctx) { return RunDraftShow(ctx, a->draft.tenant, a->draft.draft_id); });
  show->add_option("TENANT", a->draft.tenant, "tenant")->required();
  show->add_option("ID", a->draft.draft_id, "draft id")->required();
  CLI::App* discard = commands->AddUnder(
      draft, "discard", "drop a draft (nothing goes live)",
      [a](const Context& ctx) { return RunDraftDiscard(ctx, a->draft.tenant, a->draft.draft_id); });
  discard->add_option("TENANT", a->draft.tenant, "tenant")->required();
  discard->add_option("ID", a->draft.draft_id, "draft id")->required();
  CLI::App* publish =
      commands->AddUnder(draft, "publish", "apply a draft as one release (publisher)",
                         [a](const Context& ctx) { return RunDraftPublish(ctx, a->publish); });
  publish->add_option("TENANT", a->publish.tenant, "tenant")->required();
  publish->add_option("ID", a->publish.draft_id, "draft id")->required();
  publish->add_flag("--rebase", a->publish.rebase, "apply over keys changed since the draft");
  publish->add_option("-m,--message", a->publish.message, "release message (default: the draft's)");

  CLI::App* gray = app->add_subcommand(
      "gray", "gray release: changes to an audience of instances first, then promote or abort");
  gray->require_subcommand(1);
  gray->fallthrough();
  CLI::App* start = commands->AddUnder(
      gray, "start", "publish a draft (or changes) to the instances of an audience only",
      [a](const Context& ctx) { return RunGrayStart(ctx, a->gray); });
  start->add_option("TENANT", a->gray.tenant, "tenant")->required();
  start->add_option("--draft", a->gray.draft_id, "the draft to release to the audience");
  start->add_option("--set", a->gray.set, "SERVICE/KEY=VALUE (repeatable; instead of --draft)");
  start->add_option("--mask", a->gray.mask, "SERVICE/KEY: hide the key (repeatable)");
  start->add_option("--selector", a->gray.selector,
                    "instance labels: k=v, k!=v, k, !k, comma-separated (all must hold)");
  start->add_option("--instance", a->gray.instances, "an instance id (repeatable)");
  start->add_option("--percentage", a->gray.percentage,
                    "1-100: that share of the instances, the same ones every time");
  start->add_option("--service", a->gray.service, "only instances of this service");
  start->add_option("-m,--message", a->gray.message, "message (default: the draft's)");
  CLI::App* gray_show = commands->AddUnder(
      gray, "show", "the open gray release: audience, values, the instances that see it",
      [a](const Context& ctx) { return RunGrayShow(ctx, a->gray.tenant); });
  gray_show->add_option("TENANT", a->gray.tenant, "tenant")->required();
  for (bool promote_it : {true, false}) {
    CLI::App* end = commands->AddUnder(
        gray, promote_it ? "promote" : "abort",
        promote_it ? "make the open gray release the tenant's (one release)"
                   : "take the open gray release back (its audience gets the tenant's values)",
        [a, promote_it](const Context& ctx) { return RunGrayEnd(ctx, a->gray, promote_it); });
    end->add_option("TENANT", a->gray.tenant, "tenant")->required();
    end->add_option("ID", a->gray.gray_release_id, "the gray release id (default: the open one)");
    if (promote_it) {
      end->add_option("-m,--message", a->gray.message, "release message");
      end->add_flag("--rebase", a->gray.rebase, "over keys the tenant changed since it started");
    }
  }

  CLI::App* promote = commands->Add(
      "promote",
      "copy FROM's resolved view into TO (generated, secret and endpoint keys stay): a release, "
      "or a draft where TO requires them",
      [a](const Context& ctx) { return RunPromote(ctx, a->promote); });
  promote->add_option("FROM", a->promote.from_tenant, "the tested tenant, e.g. integration")
      ->required();
  promote->add_option("TO", a->promote.to_tenant, "the tenant promoted into")->required();
  promote->add_option("--service", a->promote.services, "only this service (repeatable)");
  promote->add_flag("--dry-run", a->promote.dry_run, "list what would change, write nothing");
  promote->add_flag("--remove-missing", a->promote.remove_missing,
                    "also hide TO's keys that FROM does not have");
  promote->add_option("-m,--message", a->promote.message, "release or draft message");

  CLI::App* reset = commands->Add(
      "reset",
      "take a tenant's hand edits back to what its parent and its definitions' defaults give",
      [a](const Context& ctx) { return RunReset(ctx, a->reset); });
  reset->add_option("TENANT", a->reset.tenant, "tenant")->required();
  reset->add_option("--service", a->reset.services, "only this service (repeatable)");
  reset->add_flag("--dry-run", a->reset.dry_run, "list what would change, write nothing");
  reset->add_option("-m,--message", a->reset.message, "release or draft message");
}

// routes render (a group, for later routes subcommands).
void AddRoutesCommands(Commands* commands, CLI::App* app, Args* a) {
  CLI::App* routes = app->add_subcommand(
      "routes", "routing for services that do not use the client library (docs/routing.md)");
  routes->require_subcommand(1);
  routes->fallthrough();
  CLI::App* render = commands->AddUnder(
      routes, "render",
      "Kubernetes objects (ExternalName Services; with --mesh istio, VirtualServices and "
      "DestinationRules), a JSON route table or an Envoy RouteConfiguration for a tenant",
      [a](const Context& ctx) { return RunRoutesRender(ctx, a->routes); });
  render->add_option("TENANT", a->routes.tenant, "tenant (a Kubernetes namespace)")->required();
  render->add_option("-o,--output", a->routes.output,
                     "k8s (multi-document YAML), json (route table) or envoy "
                     "(RouteConfiguration); default k8s, or json under a global -o json");
  render->add_option("--mesh", a->routes.mesh,
                     "istio: add header-routing VirtualServices and DestinationRules");
  render->add_option("--header", a->routes.header, "the header that names the tenant")
      ->capture_default_str();
}

void AddWatchCommand(Commands* commands, Args* a) {
  CLI::App* watch = commands->Add(
      "watch", "stream a tenant's resolved view as it changes", [a](const Context& ctx) {
        a->watch.from_revision = IfGiven(a->from_revision, a->from_revision_value);
        return RunWatch(ctx, a->watch);
      });
  watch->add_option("TENANT", a->watch.tenant, "tenant")->required();
  watch->add_option("SERVICE", a->watch.services, "services (default: all)");
  a->from_revision =
      watch->add_option("--from-revision", a->from_revision_value,
                        "send the changes after this revision instead of a snapshot first");
  watch->add_option("--epoch", a->watch.epoch,
                    "the store epoch of --from-revision (as -o json shows it): a revision of "
                    "another epoch (a restored store) gets a snapshot instead of a replay");
  watch->add_option("--count", a->watch.count, "stop after N event messages (0 = never)")
      ->capture_default_str();
}

void AddTenantCommands(Commands* commands, Args* a) {
  commands->Add("tenants", "list every tenant (all pages)",
                [](const Context& ctx) { return RunTenants(ctx); });
  CLI::App* tenant = commands->Add("tenant", "describe one tenant",
                                   [a](const Context& ctx) { return RunTenant(ctx, a->tenant); });
  tenant->add_option("TENANT", a->tenant, "tenant")->required();

  CLI::App* reg = commands->Add(
      "register", "create a tenant (idempotent) and record services", [a](const Context& ctx) {
        // register TENANT SERVICE... is register TENANT --service ...
        a->reg.services.insert(a->reg.services.end(), a->reg_services.begin(),
                               a->reg_services.end());
        return RunRegister(ctx, a->reg);
      });
  reg->add_option("TENANT", a->reg.tenant, "tenant")->required();
  reg->add_option("SERVICE", a->reg_services, "services to record by name (as --service)");
  CLI::Option* parent = reg->add_option("--parent", a->reg.parent, "parent (default integration)");
  reg->add_flag("--root", a->reg.root, "create as a root (no parent)")->excludes(parent);
  reg->add_option("-f,--file", a->reg.files,
                  "service definition file, YAML or JSON (repeatable; - = stdin)");
  reg->add_option("--service", a->reg.services, "a service to record by name (repeatable)");
  reg->add_option("--label", a->reg.labels, "K=V metadata of every service (repeatable)");
  reg->add_flag("--force", a->reg.force, "register despite version conflicts (warnings)");
  reg->add_option("--ttl", a->reg.ttl, "tenant time to live, renewed by register/touch (72h)");
  reg->add_flag("--keep", a->reg.keep, "keep the tenant when its last service is removed");

  CLI::App* deps = commands->Add("deps", "the dependency map of a service as seen from a tenant",
                                 [a](const Context& ctx) { return RunDependencies(ctx, a->deps); });
  deps->add_option("TENANT", a->deps.tenant, "tenant")->required();
  deps->add_option("SERVICE", a->deps.service, "service")->required();

  CLI::App* instances =
      commands->Add("instances", "the instances following a tenant's view, what each applied",
                    [a](const Context& ctx) { return RunInstances(ctx, a->instances); });
  instances->add_option("TENANT", a->instances.tenant, "tenant")->required();
  instances->add_option("SERVICE", a->instances.service, "only this service's instances");

  CLI::App* wait_applied = commands->Add(
      "wait-applied", "wait until every instance has applied a revision (exit 8 if not)",
      [a](const Context& ctx) { return RunWaitApplied(ctx, a->wait_applied); });
  wait_applied->add_option("TENANT", a->wait_applied.tenant, "tenant")->required();
  wait_applied->add_option("SERVICE", a->wait_applied.service, "only this service's instances");
  wait_applied
      ->add_option("--revision", a->wait_applied.revision,
                   "the revision (a put's or a register's) that must have taken effect")
      ->required();
  wait_applied->add_option("--timeout", a->wait_applied.timeout,
                           "how long to wait at most (default 60s, at most 10m)");

  CLI::App* touch = commands->Add("touch", "renew a tenant's TTL",
                                  [a](const Context& ctx) { return RunTouch(ctx, a->touched); });
  touch->add_option("TENANT", a->touched, "tenant")->required();

  CLI::App* dereg =
      commands->Add("deregister", "remove services (and their keys) or the whole tenant",
                    [a](const Context& ctx) { return RunDeregister(ctx, a->dereg); });
  dereg->add_option("TENANT", a->dereg.tenant, "tenant")->required();
  CLI::Option* services = dereg->add_option("SERVICE", a->dereg.services, "services to remove");
  dereg->add_flag("--all", a->dereg.all, "remove the whole tenant")->excludes(services);
  dereg->add_flag("--force", a->dereg.force, "required to remove integration");

  CLI::App* name = commands->AddOffline(
      "tenant-name", "print the tenant name for a git branch (no server contact)",
      [a](const Context& ctx) { return RunTenantName(ctx, a->branch, a->integration_branch); });
  name->add_option("BRANCH", a->branch, "branch name, e.g. feature/Login_v2")->required();
  name->add_option("--integration-branch", a->integration_branch,
                   "the branch that deploys to integration: prints \"integration\" for it");
}

void AddTransferCommands(Commands* commands, Args* a) {
  CLI::App* import = commands->Add(
      "import", "write a YAML, JSON or .properties file's keys into a service (Txn of PUTs)",
      [a](const Context& ctx) { return RunImport(ctx, a->import); });
  import->add_option("TENANT", a->import.tenant, "tenant")->required();
  import->add_option("SERVICE", a->import.service, "service")->required();
  import->add_option("FILE", a->import.file, "file to read; - = stdin (then give --format)")
      ->required();
  import->add_option("--format", a->import.format, "default: from the file's extension")
      ->check(CLI::IsMember({"yaml", "yml", "json", "properties"}));
  import
      ->add_option("--max-txn-ops", a->import.max_txn_ops,
                   "ops per Txn (the server's --max_txn_ops); more keys are split")
      ->capture_default_str();

  CLI::App* exp =
      commands->Add("export", "write a service's keys as a YAML, JSON or .properties file",
                    [a](const Context& ctx) { return RunExport(ctx, a->exp); });
  exp->add_option("TENANT", a->exp.tenant, "tenant")->required();
  exp->add_option("SERVICE", a->exp.service, "service")->required();
  CLI::Option* resolved = exp->add_flag("--resolved", "the resolved view (default)");
  exp->add_flag("--own", a->exp.own, "only the tenant's own values (masks skipped)")
      ->excludes(resolved);
  exp->add_option("--format", a->exp.format, "output format")
      ->check(CLI::IsMember({"yaml", "yml", "json", "properties"}))
      ->capture_default_str();
  exp->add_option("-f,--file", a->exp.file, "file to write; - = stdout")->capture_default_str();
}

void AddBackupCommands(Commands* commands, Args* a) {
  // DIR is positional: -o already means the output format, after the command too.
  CLI::App* backup =
      commands->Add("backup", "write a consistent online backup of the whole server into DIR",
                    [a](const Context& ctx) { return RunBackup(ctx, a->backup_dir); });
  backup->add_option("DIR", a->backup_dir, "a new or empty directory")->required();

  CLI::App* restore = commands->AddOffline(
      "restore", "check a backup and copy it into a new data dir (offline, no server)",
      [a](const Context& ctx) {
        // restore BACKUP DATA_DIR is restore --backup BACKUP --data-dir DATA_DIR.
        for (auto [positional, flag, name] :
             {std::tuple{&a->restore_backup, &a->restore.backup_dir, "BACKUP (or --backup)"},
              std::tuple{&a->restore_data_dir, &a->restore.data_dir, "DATA_DIR (or --data-dir)"}}) {
          if (!positional->empty() && !flag->empty() && *positional != *flag) {
            return UsageError(absl::StrCat(name, ": given twice, differently"));
          }
          if (flag->empty()) *flag = *positional;
          if (flag->empty()) return UsageError(absl::StrCat(name, " is required"));
        }
        return RunRestore(ctx, a->restore);
      });
  restore->add_option("BACKUP", a->restore_backup, "the backup directory");
  restore->add_option("DATA_DIR", a->restore_data_dir,
                      "the new data dir (must not exist or be empty)");
  restore->add_option("--backup", a->restore.backup_dir, "the backup directory (as BACKUP)");
  restore->add_option("--data-dir,--data_dir", a->restore.data_dir,
                      "the new data dir (as DATA_DIR)");

  commands->Add("rotate-secret-key",
                "re-read the server's secret key files and re-seal every secret value with its "
                "new --secret_key_file (online)",
                [](const Context& ctx) { return RunRotateSecretKey(ctx); });
}

void AddDoctorCommand(Commands* commands, Args* a) {
  commands->Add(
      "doctor",
      "check connectivity, TLS, the token, the server's version and clock skew; says "
      "what to fix",
      [a](const Context& ctx) {
        return RunDoctor(ctx, {a->global.server, a->global.used_context, a->global.credentials});
      });
}

void AddCompletionCommands(Commands* commands, CLI::App* app, Args* a) {
  CLI::App* completion = commands->AddOffline(
      "completion",
      "print the bash or zsh completion script (subcommands, flags, tenants, "
      "services)",
      [a, app](const Context& ctx) {
        *ctx.out << (a->completion_shell == "zsh" ? ZshCompletion(*app) : BashCompletion(*app));
        return absl::OkStatus();
      });
  completion->add_option("SHELL", a->completion_shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  // For the scripts only: hidden from --help.
  CLI::App* complete =
      commands->Add("__complete", "names for the completion scripts", [a](const Context& ctx) {
        return RunCompleteNames(ctx, a->complete_kind, a->complete_tenant);
      });
  complete->group("");
  complete->add_option("KIND", a->complete_kind, "tenants or services")->required();
  complete->add_option("TENANT", a->complete_tenant, "services: of this tenant");
}

void AddContextCommands(Commands* commands, CLI::App* app, Args* a) {
  CLI::App* config = app->add_subcommand(
      "config", "contexts: named servers, credentials and output formats (no server contact)");
  config->require_subcommand(1);
  const GlobalOptions* global = &a->global;
  auto path = [global] { return ContextFilePath(global->config_file); };
  commands->AddOfflineUnder(config, "get-contexts", "list the contexts, * marks the current one",
                            [path](const Context& ctx) { return RunGetContexts(ctx, path()); });
  commands->AddOfflineUnder(config, "current-context", "print the current context's name",
                            [path](const Context& ctx) { return RunCurrentContext(ctx, path()); });
  CLI::App* use = commands->AddOfflineUnder(
      config, "use-context", "make NAME the current context",
      [a, path](const Context& ctx) { return RunUseContext(ctx, path(), a->context_name); });
  use->add_option("NAME", a->context_name, "context")->required();
  CLI::App* del = commands->AddOfflineUnder(
      config, "delete-context", "remove NAME from the file",
      [a, path](const Context& ctx) { return RunDeleteContext(ctx, path(), a->context_name); });
  del->add_option("NAME", a->context_name, "context")->required();
  CLI::App* set = commands->AddOfflineUnder(
      config, "set-context", "create or update NAME with the settings given (file mode 0600)",
      [a, path](const Context& ctx) { return RunSetContext(ctx, path(), a->set_context); });
  NamedContext* c = &a->set_context;
  set->add_option("NAME", c->name, "context")->required();
  set->add_option("--server,--address", c->server, "confcenterd address or replica list");
  set->add_option("--ca", c->ca, "PEM CA file (TLS)");
  set->add_option("--cert", c->cert, "PEM client certificate (mTLS)");
  set->add_option("--key", c->key, "PEM private key of --cert");
  set->add_option("--server-name", c->server_name, "name to check the certificate against");
  set->add_option("--token", c->token, "bearer token (kept in the file, which is 0600)");
  set->add_option("--token-file", c->token_file, "file holding the bearer token");
  set->add_option("--user", c->user, "sent as x-confcenter-user");
  set->add_option("-o,--output", c->output, "table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  set->add_option("--tenant", c->tenant,
                  "default tenant: fills a TENANT left out (confctl resolve, confctl put SERVICE "
                  "KEY VALUE)");
}

// One example line per command (by its path under confctl), shown at the top of its help's
// footer. A command without one fails HelpTest.EveryCommandHasAnExample.
const std::map<std::string, std::string>& Examples() {
  static const auto* examples = new std::map<std::string, std::string>{
      {"put", "confctl put feat-x orders timeout 2s [--expected-revision 12]"},
      {"get", "confctl get feat-x orders timeout"},
      {"delete", "confctl delete feat-x orders timeout"},
      {"mask", "confctl mask feat-x orders legacy.flag"},
      {"list", "confctl list feat-x --service orders --prefix db."},
      {"resolve", "confctl resolve feat-x orders"},
      {"txn", "confctl txn -f changes.yaml -m \"pool sizes\""},
      {"watch", "confctl watch feat-x orders --count 10"},
      {"tenants", "confctl tenants"},
      {"tenant", "confctl tenant feat-x"},
      {"register", "confctl register feat-x orders payments --ttl 168h (or -f orders.yaml)"},
      {"completion",
       "confctl completion bash > ~/.local/share/bash-completion/completions/confctl"},
      {"__complete", "confctl __complete services feat-x"},
      {"deps", "confctl deps feat-x orders"},
      {"instances", "confctl instances feat-x orders"},
      {"wait-applied", "confctl wait-applied feat-x orders --revision 42 --timeout 2m"},
      {"touch", "confctl touch feat-x"},
      {"deregister", "confctl deregister feat-x --all"},
      {"tenant-name", "confctl tenant-name feature/Login_v2"},
      {"import", "confctl import feat-x orders orders.yaml"},
      {"export", "confctl export feat-x orders --format properties -f orders.properties"},
      {"history", "confctl history feat-x orders timeout"},
      {"explain", "confctl explain feat-x orders timeout"},
      {"releases", "confctl releases feat-x --limit 20"},
      {"release", "confctl release 42"},
      {"rollback", "confctl rollback feat-x --service orders --to-revision 40 --dry-run"},
      {"diff", "confctl diff feat-x --parent"},
      {"audit", "confctl audit --tenant feat-x --since 1h"},
      {"backup", "confctl backup /var/backups/confcenter-$(date +%F)"},
      {"restore", "confctl restore /var/backups/confcenter-2026-12-07 /var/lib/confcenter.new"},
      {"rotate-secret-key", "confctl rotate-secret-key"},
      {"review", "confctl review pre-acme --drafts-required --publisher-not-author"},
      {"drafts", "confctl drafts pre-acme"},
      {"draft create", "confctl draft create pre-acme --set orders/timeout=2s -m \"slower db\""},
      {"draft update", "confctl draft update pre-acme 42 --set orders/retries=3"},
      {"draft show", "confctl draft show pre-acme 42"},
      {"draft discard", "confctl draft discard pre-acme 42"},
      {"draft publish", "confctl --user bob draft publish pre-acme 42"},
      {"gray start", "confctl gray start pre-acme --draft 42 --selector zone=canary"},
      {"gray show", "confctl gray show pre-acme"},
      {"gray promote", "confctl gray promote pre-acme"},
      {"gray abort", "confctl gray abort pre-acme"},
      {"promote", "confctl promote integration pre-acme --dry-run"},
      {"reset", "confctl reset perf --dry-run"},
      {"routes render", "confctl routes render f1 --mesh istio | kubectl apply -f -"},
      {"config get-contexts", "confctl config get-contexts"},
      {"config current-context", "confctl config current-context"},
      {"config use-context", "confctl config use-context pre"},
      {"config set-context", "confctl config set-context pre --server 10.0.1.5:7070 --ca ca.pem"},
      {"config delete-context", "confctl config delete-context pre"},
      {"doctor", "confctl --context pre doctor"},
  };
  return *examples;
}

// Puts each command's example above the exit codes in its help (recursively).
void AddExamples(CLI::App* app, const std::string& path) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    const std::string name = path.empty() ? sub->get_name() : path + " " + sub->get_name();
    if (auto it = Examples().find(name); it != Examples().end()) {
      sub->footer(absl::StrCat("Example:\n  ", it->second, "\n\n", kExitCodeHelp));
    }
    AddExamples(sub, name);
  }
}

// Edit distance (insertions, deletions, substitutions) between two short words.
size_t Distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t next =
          std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = row[j];
      row[j] = next;
    }
  }
  return row[b.size()];
}

// The known flag or command nearest to `word` (an unknown one the parser refused), or "".
std::string Nearest(const CLI::App& app, const std::string& word) {
  std::vector<std::string> known;
  std::function<void(const CLI::App&)> collect = [&](const CLI::App& a) {
    for (const CLI::Option* option : a.get_options()) {
      for (const std::string& name : option->get_lnames()) known.push_back("--" + name);
    }
    for (const CLI::App* sub : a.get_subcommands({})) {
      known.push_back(sub->get_name());
      collect(*sub);
    }
  };
  collect(app);
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 4) + 1;
  for (const std::string& candidate : known) {
    if ((candidate.rfind("--", 0) == 0) != (word.rfind("--", 0) == 0)) continue;
    const size_t d = Distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

// " (did you mean --server for --sevrer?)" for each word of a parse error about unexpected
// arguments, or for a mistyped command (the parser then says a subcommand is required).
std::string Suggestions(const CLI::App& app, const std::string& message, int argc, char** argv) {
  std::vector<std::string> words;
  const std::string marker = "not expected: ";
  if (const size_t at = message.find(marker); at != std::string::npos) {
    words = absl::StrSplit(message.substr(at + marker.size()), ' ', absl::SkipEmpty());
  } else if (absl::StrContains(message, "subcommand is required")) {
    for (int i = 1; i < argc; ++i) {
      if (argv[i][0] != '-') words.push_back(argv[i]);
    }
  }
  std::string out;
  for (absl::string_view word : words) {
    std::string w(word.substr(0, word.find('=')));
    if (std::string near = Nearest(app, w); !near.empty()) {
      absl::StrAppend(&out, out.empty() ? " (" : "; ", "did you mean ", near, " for ", w, "?");
    }
  }
  return out.empty() ? "" : out + ")";
}

absl::StatusOr<absl::Duration> ParseTimeout(const std::string& text) {
  absl::Duration timeout;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    if (!std::isfinite(seconds)) return UsageError("--timeout must be finite");
    timeout = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &timeout)) {
    return UsageError(absl::StrCat("--timeout \"", text, "\": use e.g. 500ms, 5s or 1m"));
  }
  if (timeout <= absl::ZeroDuration()) return UsageError("--timeout must be positive");
  return timeout;
}

// Runs the selected command against the server the global options name.
absl::Status RunSelected(const Runner& runner, bool offline, const GlobalOptions& global) {
  if (!runner) return UsageError("no command given (see confctl --help)");
  absl::StatusOr<absl::Duration> timeout = ParseTimeout(global.timeout);
  if (!timeout.ok()) return timeout.status();
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(global.output);
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  ClientOptions options;
  options.address = global.server;
  options.deadline = *timeout;
  options.user = global.user;
  // An offline command makes no call: broken credentials must not stop it (the CD scripts
  // run tenant-name with the same environment as register).
  if (!offline) options.credentials = global.credentials;
  // Wait for the connection (within --timeout) rather than fail on the first refused
  // connect: a server that is starting or briefly unreachable is not an error yet.
  options.wait_for_ready = true;
  if (offline) {
    // No call is made: a bad address does not matter either (the client's channel then
    // fails every call).
    Client client(options);
    Context ctx{&client, *format, &std::cout, &std::cerr, *timeout};
    return runner(ctx);
  }
  // A bad address list is a usage error, before any command runs.
  if (absl::StatusOr<std::string> target = Client::Target(options); !target.ok()) {
    return UsageError(absl::StrCat("--server: ", target.status().message()));
  }
  // Certificate files are read now: a wrong --ca/--cert/--key is a usage error, before any
  // command runs.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Client::MakeChannel(options);
  if (!channel.ok()) {
    return UsageError(
        absl::StrCat("--ca/--cert/--key/--server-name: ", channel.status().message()));
  }
  Client client(*std::move(channel), options);
  Context ctx{&client, *format, &std::cout, &std::cerr, *timeout};
  return runner(ctx);
}

// A context's default tenant (`config set-context NAME --tenant T`) fills a TENANT left out:
// when the line lacks a required argument, the command's first argument is TENANT and the
// context that applies (--context, else the current one) has a tenant, the arguments with the
// tenant put first. nullopt otherwise (the error stands). `confctl put orders timeout 2s`
// becomes `confctl put T orders timeout 2s`; a command whose other arguments are optional
// (`resolve TENANT [SERVICE...]`) takes the default only when given none.
std::optional<std::vector<std::string>> WithDefaultTenant(const CLI::App& app,
                                                          const GlobalOptions& global,
                                                          const std::vector<std::string>& args) {
  std::vector<const CLI::App*> path;
  for (const CLI::App* command = &app; !command->get_subcommands().empty();) {
    command = command->get_subcommands().front();
    path.push_back(command);
  }
  if (path.empty()) return std::nullopt;
  const CLI::App* command = path.back();
  const std::vector<const CLI::Option*> options = command->get_options();
  auto first = std::find_if(options.begin(), options.end(),
                            [](const CLI::Option* o) { return o->get_positional(); });
  if (first == options.end() || (*first)->get_name() != "TENANT") return std::nullopt;
  absl::StatusOr<ContextFile> file = LoadContextFile(ContextFilePath(global.config_file));
  if (!file.ok()) return std::nullopt;
  const NamedContext* context =
      file->Find(!global.context.empty() ? global.context : file->current_context);
  if (context == nullptr || context->tenant.empty()) return std::nullopt;
  // After the command's name on the line (its path's names, in order).
  size_t at = 0;
  for (const CLI::App* name : path) {
    while (at < args.size() && args[at] != name->get_name()) ++at;
    if (at == args.size()) return std::nullopt;
    ++at;
  }
  std::vector<std::string> with = args;
  with.insert(with.begin() + static_cast<std::ptrdiff_t>(at), context->tenant);
  return with;
}

int Main(int argc, char** argv) {
  CLI::App app("confctl: command line of the confcenter config center", "confctl");
  app.footer(kExitCodeHelp);
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "confctl 0.1.0");
  Args args;
  AddGlobalOptions(&app, &args.global);
  Commands commands(&app);
  AddConfigCommands(&commands, &args);
  AddWatchCommand(&commands, &args);
  AddTenantCommands(&commands, &args);
  AddTransferCommands(&commands, &args);
  AddHistoryCommands(&commands, &args);
  AddBackupCommands(&commands, &args);
  AddReleaseCommands(&commands, &app, &args);
  AddRoutesCommands(&commands, &app, &args);
  AddContextCommands(&commands, &app, &args);
  AddDoctorCommand(&commands, &args);
  AddCompletionCommands(&commands, &app, &args);
  AddExamples(&app, "");
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::RequiredError&) {
      const std::vector<std::string> given(argv + 1, argv + argc);
      std::optional<std::vector<std::string>> with = WithDefaultTenant(app, args.global, given);
      if (!with.has_value()) throw;
      std::vector<const char*> again = {argv[0]};
      for (const std::string& arg : *with) again.push_back(arg.c_str());
      app.clear();
      app.parse(static_cast<int>(again.size()), again.data());
    }
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    PrintError(UsageError(absl::StrCat(e.what(), Suggestions(app, e.what(), argc, argv),
                                       " (see confctl --help)")),
               std::cerr);
    return kExitUsage;
  }
  // A context fills what flags and environment left open; offline commands need none (and
  // the config commands must work on a file that a context could not be taken from).
  absl::Status status =
      commands.SelectedIsOffline() ? absl::OkStatus() : ApplyContext(&args.global);
  if (status.ok()) {
    status = RunSelected(commands.Selected(), commands.SelectedIsOffline(), args.global);
  }
  if (!status.ok()) PrintError(status, std::cerr);
  return ExitCodeFor(status);
}

}  // namespace
}  // namespace confcenter::confctl

int main(int argc, char** argv) { return confcenter::confctl::Main(argc, argv); }
