// confcenterd: the confcenter server. Serves ConfigService, TenantService, WatchService and
// HistoryService and AdminService (plus server reflection and the standard health service) over
// gRPC, with state in RocksDB, and metrics and probes over HTTP on the admin listener.
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/api/access_service.h"
#include "server/api/admin_service.h"
#include "server/api/gatekeeper.h"
#include "server/api/grpc_services.h"
#include "server/api/history_service.h"
#include "server/api/http_gateway.h"
#include "server/api/instance_service.h"
#include "server/api/release_service.h"
#include "server/api/replica_peers.h"
#include "server/api/rpc_metrics.h"
#include "server/api/watch_service.h"
#include "server/core/backup.h"
#include "server/core/config_core.h"
#include "server/core/history_core.h"
#include "server/core/metrics.h"
#include "server/daemon/admin_http.h"
#include "server/daemon/flag_sources.h"
#include "server/daemon/logging.h"
#include "server/daemon/memory_budget.h"
#include "server/daemon/security.h"
#include "server/watch/watch_hub.h"
#include "spdlog/spdlog.h"
#include "storage/etcd_store.h"
#include "storage/fault_injection.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "Address to serve gRPC on. Port 0 picks a free port (see --port_file).");
ABSL_FLAG(std::string, data_dir, "./data",
          "Directory of the RocksDB store; created if absent. Not used with --store=etcd.");
ABSL_FLAG(std::string, store, "rocksdb",
          "The storage engine: rocksdb (embedded, one process, in --data_dir) or etcd (an etcd "
          "v3 cluster shared by several stateless replicas: --etcd_endpoints).");
ABSL_FLAG(std::string, etcd_endpoints, "",
          "--store=etcd: the cluster's client addresses, host:port comma-separated.");
ABSL_FLAG(std::string, etcd_prefix, "/confcenter/",
          "--store=etcd: every key confcenterd writes is under this prefix; stores with "
          "different prefixes on one cluster never see each other.");
ABSL_FLAG(std::string, etcd_ca_file, "",
          "--store=etcd: CA bundle (PEM) the members' certificates must chain to: TLS to etcd.");
ABSL_FLAG(std::string, etcd_cert_file, "",
          "--store=etcd: client certificate (PEM) for etcd's --client-cert-auth.");
ABSL_FLAG(std::string, etcd_key_file, "", "--store=etcd: the client certificate's key (PEM).");
ABSL_FLAG(std::string, etcd_server_name, "",
          "--store=etcd: the name checked against the members' certificates (default: the "
          "endpoint's host).");
ABSL_FLAG(int64_t, etcd_max_txn_ops, 128,
          "--store=etcd: must equal etcd's --max-txn-ops; larger write batches are split, and "
          "one write over it is refused with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, etcd_max_request_bytes, 1572864,
          "--store=etcd: must equal etcd's --max-request-bytes (see --etcd_max_txn_ops).");
ABSL_FLAG(absl::Duration, etcd_compaction_interval, absl::Minutes(5),
          "--store=etcd: how often the maintenance replica compacts etcd's MVCC history; 0 "
          "leaves it to etcd's own --auto-compaction-*.");
ABSL_FLAG(absl::Duration, etcd_request_timeout, absl::Seconds(5),
          "--store=etcd: the deadline of one request to etcd, failover included.");
ABSL_FLAG(absl::Duration, etcd_follow_timeout, absl::Seconds(3),
          "--store=etcd: a watch on etcd silent this long is moved to another member, and the "
          "replica reports not ready until it is live again.");
ABSL_FLAG(absl::Duration, max_revision_wait, absl::Seconds(5),
          "The longest a read with min_revision, or a resume from a revision this replica has "
          "not applied yet, waits for it.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the chosen port is written to this file once the server is serving.");
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:7071",
          "Address of the admin HTTP listener: /metrics (Prometheus), /healthz, /readyz. Port 0 "
          "picks a free port (see --admin_port_file).");
ABSL_FLAG(std::string, admin_port_file, "",
          "If set, the admin listener's port is written to this file once it listens.");
ABSL_FLAG(std::string, http_listen, "127.0.0.1:7080",
          "Address of the HTTP/JSON API (POST /v1/<Service>/<Method>, Server-Sent Events for "
          "streams): the same RPCs, rules and credentials as gRPC; HTTPS with --tls_cert. Port "
          "0 picks a free port (see --http_port_file); empty = off.");
ABSL_FLAG(std::string, http_port_file, "",
          "If set, the HTTP listener's port is written to this file once it listens.");
ABSL_FLAG(int, http_max_concurrency, 16,
          "HTTP requests answered at once (a thread each); more wait for a thread.");
ABSL_FLAG(int, http_max_streams, 1024,
          "Open HTTP event streams (Subscribe over Server-Sent Events; a thread each); more get "
          "429.");
ABSL_FLAG(std::vector<std::string>, http_allowed_hosts, {},
          "Host names (comma-separated) browsers may reach the HTTP API and console by, besides "
          "localhost, 127.0.0.1, ::1 and the --http_listen host: e.g. the name an ingress "
          "serves it on. \"*\" allows any (then DNS rebinding can reach a server without "
          "--auth_policy).");
ABSL_FLAG(absl::Duration, instance_grace, absl::Seconds(30),
          "How long an instance whose Subscribe stream ended stays listed (ListInstances), so "
          "a reconnect keeps its entry.");
ABSL_FLAG(std::string, advertise_address, "",
          "With --store=etcd: host:port the other replicas reach this one's gRPC API at, for "
          "answers that need every replica's instance table (ListInstances, WaitApplied). "
          "Default: the --listen address, unless it is a wildcard (then set it, e.g. "
          "$(POD_IP):7070).");
ABSL_FLAG(std::string, peer_tls_ca, "",
          "With --store=etcd and --tls_cert: the CA bundle the other replicas' certificates are "
          "verified against when this replica asks them (the replicas share a secret read from "
          "etcd, so no token is needed). Empty: plaintext to the other replicas.");
ABSL_FLAG(std::string, peer_tls_server_name, "",
          "The name checked against the other replicas' certificates (they are dialled by "
          "address), e.g. the Service's DNS name. Empty: the announced host.");
ABSL_FLAG(std::string, config, "",
          "A YAML file of settings (flag name: value). Precedence: command line > CONFCENTER_* "
          "environment variables > this file > defaults. Also CONFCENTER_CONFIG.");
ABSL_FLAG(bool, check_config, false,
          "Print the effective settings (as a --config file, each with where it came from) and "
          "exit: 0 if they are valid, 2 if not.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off.");
ABSL_FLAG(std::string, log_format, "text",
          "text, or json: one JSON object per line (time, level, thread, msg) for log shippers.");
ABSL_FLAG(std::string, log_file, "",
          "Append the log to this file instead of stderr (e.g. when no journal or log shipper "
          "takes stderr).");
ABSL_FLAG(absl::Duration, log_burst_window, absl::Seconds(1),
          "Repeated warnings of one kind within this long (100 subscribers of a tenant cut off "
          "at once) are logged as one line with a count and examples; /metrics still counts "
          "each. 0 = a line each.");
ABSL_FLAG(int64_t, max_value_bytes, confcenter::CoreOptions().max_value_bytes,
          "Largest config value accepted, in bytes.");
ABSL_FLAG(int64_t, max_keys_per_tenant, confcenter::CoreOptions().max_keys_per_tenant,
          "Most own entries (values and masks) one tenant may hold.");
ABSL_FLAG(int64_t, max_tenant_bytes, confcenter::CoreOptions().max_tenant_bytes,
          "Bytes (service + key + value of each) one tenant's own entries and their history "
          "versions may hold; writes past it are refused with RESOURCE_EXHAUSTED. 0 = no quota.");
ABSL_FLAG(int64_t, max_store_bytes, confcenter::CoreOptions().max_store_bytes,
          "While the store (values, history, audit, on disk and in memtables) holds this many "
          "bytes, writes that add bytes are refused; deletions go on. 0 = no quota.");
ABSL_FLAG(int64_t, max_tenants, confcenter::CoreOptions().max_tenants,
          "Most tenants; a Register creating one more is refused. 0 = no cap.");
ABSL_FLAG(int, max_txn_ops, confcenter::CoreOptions().max_txn_ops, "Most operations in one Txn.");
ABSL_FLAG(int, max_request_bytes, 8 << 20,
          "Largest gRPC request message accepted, in bytes (must exceed max_value_bytes).");
ABSL_FLAG(int64_t, disk_reserve_bytes, int64_t{64} << 20,
          "--store=rocksdb: bytes kept free in the data dir (a reserve file, released when a "
          "write meets a full disk) so deletions and history compaction can still run and the "
          "server recovers without a restart once space is freed. 0 = none.");
ABSL_FLAG(bool, unsafe_no_fsync, false,
          "UNSAFE: acknowledge writes before the WAL is synced to disk. A machine crash or "
          "power loss can then lose acknowledged writes (a process crash cannot). For "
          "throwaway environments only.");
ABSL_FLAG(int64_t, max_queued_writes, confcenter::CoreOptions().max_queued_writes,
          "Most write requests waiting for the committer; more are refused at once with "
          "RESOURCE_EXHAUSTED and retry advice (also in the grpc-retry-pushback-ms trailer).");
ABSL_FLAG(double, write_rate_per_caller, 0,
          "Writes per second one caller (its authenticated identity, else its host) may make; "
          "more are refused with RESOURCE_EXHAUSTED and retry advice. 0 = unlimited.");
ABSL_FLAG(double, write_burst_per_caller, 0,
          "Writes one caller may make at once above --write_rate_per_caller (default: one "
          "second's worth).");
ABSL_FLAG(double, stream_rate_per_caller, 0,
          "New subscriptions (streams and views) per second one caller may open; more are "
          "refused with RESOURCE_EXHAUSTED and retry advice. 0 = unlimited.");
ABSL_FLAG(double, stream_burst_per_caller, 0,
          "Subscriptions one caller may open at once above --stream_rate_per_caller (default: "
          "one second's worth).");
ABSL_FLAG(double, refusal_audits_per_caller,
          confcenter::CoreOptions().refusal_audits_per_caller.per_second,
          "Refused calls (unauthenticated, denied, invalid) of one caller written to the audit "
          "log per second; past it (and --refusal_audit_burst_per_caller) a refusal is answered "
          "but not recorded. 0 = record every one.");
ABSL_FLAG(double, refusal_audit_burst_per_caller,
          confcenter::CoreOptions().refusal_audits_per_caller.burst,
          "See --refusal_audits_per_caller.");
ABSL_FLAG(int64_t, max_subscriptions_per_caller, 0,
          "Most open subscriptions (streams and views) of one caller; 0 = no cap.");
ABSL_FLAG(int64_t, max_subscriptions_per_tenant, 0,
          "Most open subscriptions on one tenant; 0 = no cap.");
ABSL_FLAG(int64_t, watch_queue_messages, 1024,
          "Messages one Subscribe stream (or one view of a SubscribeViews stream) may have "
          "queued before it is ended with RESOURCE_EXHAUSTED (the client resumes from its "
          "last revision).");
ABSL_FLAG(int64_t, max_subscriptions, 0,
          "Most open subscriptions (Subscribe streams, and each view of a SubscribeViews "
          "stream); one more is refused with RESOURCE_EXHAUSTED. 0: sized at start to what "
          "the memory limit leaves (24 KiB a stream), at most 100,000.");
ABSL_FLAG(int64_t, max_index_bytes, 0,
          "The in-memory index of the loaded store may take at most this many bytes; a larger "
          "store is refused at start with one line rather than crash-looping on OOM. 0: half "
          "the memory limit (none if no limit is known).");
ABSL_FLAG(int64_t, memory_limit_bytes, 0,
          "The memory the process may use, for the start-up check. 0: its cgroup's limit "
          "(Kubernetes' resources.limits.memory), if any.");
ABSL_FLAG(absl::Duration, progress_interval, absl::Seconds(10),
          "How often every Subscribe stream gets a PROGRESS message with the current revision; "
          "also how often change-log compaction runs.");
ABSL_FLAG(int64_t, log_retention_revisions, 1'000'000,
          "Change-log retention: a change set is compacted once it is more than this many "
          "revisions behind the head and older than --log_retention_age.");
ABSL_FLAG(absl::Duration, log_retention_age, absl::Hours(24 * 7), "See --log_retention_revisions.");
ABSL_FLAG(absl::Duration, reclaim_interval, absl::Seconds(10),
          "How often tenants whose TTL has passed are looked for and removed; 0 = never.");
ABSL_FLAG(std::string, testing_clock_file, "",
          "TESTS ONLY. The server's clock reads the time from this file (microseconds since "
          "the Unix epoch, one number) instead of the system clock, so tests move time "
          "(TTL expiry) without waiting.");
ABSL_FLAG(std::string, testing_fault_file, "",
          "TESTS ONLY. While this file names a storage fault (enospc, eio or eio-sync), the "
          "store's file writes and syncs fail as on a full or failing disk; an absent or empty "
          "file means no fault. Read on every file write.");
ABSL_FLAG(absl::Duration, history_retention_age, confcenter::HistoryOptions().history_retention_age,
          "Versions and releases older than this are dropped (except each key's last "
          "--history_keep_versions); Rollback and Diff reach back this far.");
ABSL_FLAG(int, history_keep_versions, confcenter::HistoryOptions().history_keep_versions,
          "The last N versions of each key are kept whatever their age (at least 1).");
ABSL_FLAG(absl::Duration, audit_retention_age, confcenter::HistoryOptions().audit_retention_age,
          "Audit records older than this are dropped.");
ABSL_FLAG(absl::Duration, history_compaction_interval,
          confcenter::HistoryOptions().compaction_interval,
          "How often history, releases and the audit log are compacted; 0 disables.");
ABSL_FLAG(absl::Duration, backup_stall_timeout, confcenter::BackupOptions().stall_timeout,
          "A Backup whose client takes nothing for this long is cut off and its checkpoint "
          "removed.");
ABSL_FLAG(std::string, backup_tmp_dir, "",
          "Where AdminService.Backup makes its checkpoint (a new directory per backup, removed "
          "when the backup ends). Empty = the data dir's parent. Keep it on the data dir's "
          "filesystem: the checkpoint is then hard links, not copies.");
ABSL_FLAG(std::string, auth_policy, "",
          "The access policy file (YAML: authentication, protected tenants, role bindings), "
          "reloaded when it or a file it names changes. Empty = no authentication: every "
          "caller is admin, which is allowed only on a loopback --listen (see "
          "--insecure_no_auth).");
ABSL_FLAG(absl::Duration, auth_reload_interval, absl::Seconds(5),
          "How often the policy, token and key files are checked for changes.");
ABSL_FLAG(bool, insecure_no_auth, false,
          "Serve a non-loopback --listen without --auth_policy: anyone who reaches the port can "
          "read every secret and change every tenant. For isolated test networks only.");
ABSL_FLAG(std::string, secret_key_file, "",
          "A 256-bit key (64 hex digits: openssl rand -hex 32) that seals secret values at "
          "rest: generated keys, secret_keys and secret writes are encrypted (AES-256-GCM) in "
          "every file of the data dir and its backups. Keep it outside the data dir. Empty = "
          "secrets are stored as written. To rotate: put a new key here, the old one in "
          "--secret_old_key_files, call AdminService.RotateSecretKey (confctl "
          "rotate-secret-key), then drop the old one.");
ABSL_FLAG(bool, new_epoch, false,
          "Start a new store epoch: every subscriber resuming with a revision from before "
          "resyncs instead of being replayed. For a store put back by other means than "
          "confctl restore (a volume snapshot, a copied data dir; on etcd: after etcdctl "
          "snapshot restore, on one replica before the others start). Once, then drop it.");
ABSL_FLAG(std::vector<std::string>, secret_old_key_files, {},
          "Keys (files, comma-separated, as --secret_key_file) that open secret values sealed "
          "before a rotation but seal nothing; a file that does not exist holds none. Re-read "
          "by AdminService.RotateSecretKey.");
ABSL_FLAG(std::string, tls_cert, "",
          "Server certificate chain (PEM): serve gRPC over TLS. Re-read when it changes.");
ABSL_FLAG(std::string, tls_key, "", "The server certificate's private key (PEM).");
ABSL_FLAG(std::string, tls_client_ca, "",
          "CA bundle (PEM) client certificates must chain to, for mTLS identities.");
ABSL_FLAG(std::string, tls_client_auth, "none",
          "Client certificates: none, optional (verified when sent) or require.");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "How often the TLS certificate, key and client CA files are checked for changes.");
ABSL_FLAG(absl::Duration, grpc_keepalive_time, absl::Seconds(30),
          "A client connection quiet for this long gets an HTTP/2 ping; one that does not answer "
          "within --grpc_keepalive_timeout is closed, ending its streams, so a vanished peer "
          "(node gone, no TCP reset) releases its subscriptions. 0 = no pings.");
ABSL_FLAG(absl::Duration, grpc_keepalive_timeout, absl::Seconds(10),
          "How long a keepalive ping may go unanswered.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age, absl::ZeroDuration(),
          "Connections older than this are asked to reconnect (GOAWAY): clients spread again "
          "over the replicas and streams re-admit with the current policy and token. Streams "
          "still open --grpc_max_connection_age_grace later end with UNAVAILABLE and resume. "
          "0 = connections live as long as their peers want.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age_grace, absl::Seconds(30),
          "See --grpc_max_connection_age.");
ABSL_FLAG(int, shutdown_grace_seconds, 10,
          "On SIGTERM/SIGINT, how long queued writes get to commit before being cancelled.");

namespace confcenter {

// Validates the settings that can be checked without opening anything; also sets up logging.
absl::Status CheckSettings();

// A rate flag and its burst flag; the burst defaults to one second's worth.
RateLimit RateFlags(double per_second, double burst) {
  return {per_second, burst > 0 ? burst : std::max(1.0, per_second)};
}

int ClampedMillis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

// Keepalive and connection age (--grpc_keepalive_*, --grpc_max_connection_age*).
void ApplyConnectionSettings(grpc::ServerBuilder* builder) {
  if (const absl::Duration every = absl::GetFlag(FLAGS_grpc_keepalive_time);
      every > absl::ZeroDuration()) {
    builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ClampedMillis(every));
    builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                                ClampedMillis(absl::GetFlag(FLAGS_grpc_keepalive_timeout)));
    builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // idle streams too
  }
  // Clients of the library ping every 30 s by default, also between calls: allow it (gRPC
  // otherwise answers frequent pings with GOAWAY "too_many_pings"), but not more than every
  // 5 s.
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default: a second confcenterd on the same port would then
  // silently take half the connections (and an ephemeral port could be handed out twice).
  // Fail with "address in use" instead.
  builder->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  if (const absl::Duration age = absl::GetFlag(FLAGS_grpc_max_connection_age);
      age > absl::ZeroDuration()) {
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, ClampedMillis(age));
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                                ClampedMillis(absl::GetFlag(FLAGS_grpc_max_connection_age_grace)));
  }
}

namespace {

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckSettings() {
  if (absl::Status s =
          ConfigureLogging(absl::GetFlag(FLAGS_log_format), absl::GetFlag(FLAGS_log_level),
                           absl::GetFlag(FLAGS_log_file));
      !s.ok()) {
    return s;
  }
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"max_value_bytes", absl::GetFlag(FLAGS_max_value_bytes)},
        {"max_keys_per_tenant", absl::GetFlag(FLAGS_max_keys_per_tenant)},
        {"max_txn_ops", absl::GetFlag(FLAGS_max_txn_ops)},
        {"max_queued_writes", absl::GetFlag(FLAGS_max_queued_writes)}}) {
    if (value <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": must be positive, got ", value));
    }
  }

  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"max_tenant_bytes", absl::GetFlag(FLAGS_max_tenant_bytes)},
        {"max_store_bytes", absl::GetFlag(FLAGS_max_store_bytes)},
        {"max_tenants", absl::GetFlag(FLAGS_max_tenants)},
        {"disk_reserve_bytes", absl::GetFlag(FLAGS_disk_reserve_bytes)},
        {"max_subscriptions", absl::GetFlag(FLAGS_max_subscriptions)},
        {"max_index_bytes", absl::GetFlag(FLAGS_max_index_bytes)},
        {"memory_limit_bytes", absl::GetFlag(FLAGS_memory_limit_bytes)}}) {
    if (value < 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": must not be negative, got ", value));
    }
  }
  if (absl::GetFlag(FLAGS_backup_stall_timeout) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("backup_stall_timeout: must be positive");
  }
  if (absl::GetFlag(FLAGS_history_retention_age) <= absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_audit_retention_age) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "history_retention_age and audit_retention_age must be positive");
  }
  if (absl::GetFlag(FLAGS_max_request_bytes) <= absl::GetFlag(FLAGS_max_value_bytes)) {
    return absl::InvalidArgumentError(
        "max_request_bytes must exceed max_value_bytes (a request carries a value and more)");
  }
  for (const auto& [name, value] :
       {std::pair<const char*, absl::Duration>{"grpc_keepalive_time",
                                               absl::GetFlag(FLAGS_grpc_keepalive_time)},
        {"grpc_max_connection_age", absl::GetFlag(FLAGS_grpc_max_connection_age)},
        {"grpc_max_connection_age_grace", absl::GetFlag(FLAGS_grpc_max_connection_age_grace)},
        {"log_burst_window", absl::GetFlag(FLAGS_log_burst_window)}}) {
    if (value < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": must not be negative, got ", absl::FormatDuration(value)));
    }
  }
  for (const auto& [name, value] :
       {std::pair<const char*, double>{"write_rate_per_caller",
                                       absl::GetFlag(FLAGS_write_rate_per_caller)},
        {"write_burst_per_caller", absl::GetFlag(FLAGS_write_burst_per_caller)},
        {"stream_rate_per_caller", absl::GetFlag(FLAGS_stream_rate_per_caller)},
        {"refusal_audits_per_caller", absl::GetFlag(FLAGS_refusal_audits_per_caller)},
        {"refusal_audit_burst_per_caller", absl::GetFlag(FLAGS_refusal_audit_burst_per_caller)},
        {"stream_burst_per_caller", absl::GetFlag(FLAGS_stream_burst_per_caller)},
        {"max_subscriptions_per_caller",
         static_cast<double>(absl::GetFlag(FLAGS_max_subscriptions_per_caller))},
        {"max_subscriptions_per_tenant",
         static_cast<double>(absl::GetFlag(FLAGS_max_subscriptions_per_tenant))}}) {
    if (!(value >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": must be 0 (off) or positive, got ", value));
    }
  }
  if (absl::GetFlag(FLAGS_grpc_keepalive_time) > absl::ZeroDuration() &&
      absl::GetFlag(FLAGS_grpc_keepalive_timeout) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "grpc_keepalive_timeout: must be positive while grpc_keepalive_time is set, got ",
        absl::FormatDuration(absl::GetFlag(FLAGS_grpc_keepalive_timeout))));
  }
  if (absl::GetFlag(FLAGS_listen).empty() || absl::GetFlag(FLAGS_data_dir).empty()) {
    return absl::InvalidArgumentError("listen and data_dir must not be empty");
  }
  if (const std::string store = absl::GetFlag(FLAGS_store); store != "rocksdb" && store != "etcd") {
    return absl::InvalidArgumentError(
        absl::StrCat("store: \"", store, "\" is not an engine; use rocksdb or etcd"));
  }
  if (absl::GetFlag(FLAGS_store) == "etcd") {
    if (absl::GetFlag(FLAGS_etcd_endpoints).empty()) {
      return absl::InvalidArgumentError(
          "etcd_endpoints: required with --store=etcd (host:port of the cluster's members, "
          "comma-separated)");
    }
    if (absl::GetFlag(FLAGS_etcd_prefix).empty()) {
      return absl::InvalidArgumentError("etcd_prefix: must not be empty");
    }
    if (absl::GetFlag(FLAGS_etcd_max_txn_ops) < 8 ||
        absl::GetFlag(FLAGS_etcd_max_request_bytes) < 65536) {
      return absl::InvalidArgumentError(
          "etcd_max_txn_ops must be at least 8 and etcd_max_request_bytes at least 65536 "
          "(and both equal to etcd's --max-txn-ops and --max-request-bytes)");
    }
    if (absl::GetFlag(FLAGS_unsafe_no_fsync) || !absl::GetFlag(FLAGS_testing_fault_file).empty()) {
      return absl::InvalidArgumentError(
          "unsafe_no_fsync and testing_fault_file apply to --store=rocksdb only");
    }
  }
  if (absl::GetFlag(FLAGS_max_revision_wait) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_revision_wait: must be positive");
  }
  for (const std::string& listen :
       {absl::GetFlag(FLAGS_listen), absl::GetFlag(FLAGS_http_listen)}) {
    if (absl::GetFlag(FLAGS_auth_policy).empty() && !absl::GetFlag(FLAGS_insecure_no_auth) &&
        !listen.empty() && !IsLoopbackListen(listen)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to serve ", listen,
          " without authentication: set --auth_policy (or --insecure_no_auth on an isolated "
          "network)"));
    }
  }
  return absl::OkStatus();
}

namespace {

int Run() {
  // Debian's Abseil checks lock-order cycles on every Mutex acquisition; our lock order is
  // documented and fixed, and the check costs measurable time on the fan-out path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::Status s = CheckSettings(); !s.ok()) {
    spdlog::error("{}", std::string(s.message()));
    return 2;
  }

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  CoreOptions options;
  options.max_value_bytes = absl::GetFlag(FLAGS_max_value_bytes);
  options.max_keys_per_tenant = absl::GetFlag(FLAGS_max_keys_per_tenant);
  options.max_tenant_bytes = absl::GetFlag(FLAGS_max_tenant_bytes);
  options.max_store_bytes = absl::GetFlag(FLAGS_max_store_bytes);
  options.max_tenants = absl::GetFlag(FLAGS_max_tenants);
  options.max_txn_ops = absl::GetFlag(FLAGS_max_txn_ops);
  options.max_queued_writes = absl::GetFlag(FLAGS_max_queued_writes);
  options.refusal_audits_per_caller =
      RateFlags(absl::GetFlag(FLAGS_refusal_audits_per_caller),
                absl::GetFlag(FLAGS_refusal_audit_burst_per_caller));
  options.write_rate_per_caller = RateFlags(absl::GetFlag(FLAGS_write_rate_per_caller),
                                            absl::GetFlag(FLAGS_write_burst_per_caller));
  options.reclaim_interval = absl::GetFlag(FLAGS_reclaim_interval);
  options.max_revision_wait = absl::GetFlag(FLAGS_max_revision_wait);
  WatchOptions watch_options;
  watch_options.max_queued_messages =
      static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_watch_queue_messages)));
  watch_options.progress_interval = absl::GetFlag(FLAGS_progress_interval);
  watch_options.log_burst_window = absl::GetFlag(FLAGS_log_burst_window);
  watch_options.max_streams = static_cast<size_t>(absl::GetFlag(FLAGS_max_subscriptions));
  watch_options.max_streams_per_caller =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_subscriptions_per_caller));
  watch_options.max_streams_per_tenant =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_subscriptions_per_tenant));
  watch_options.stream_rate_per_caller = RateFlags(absl::GetFlag(FLAGS_stream_rate_per_caller),
                                                   absl::GetFlag(FLAGS_stream_burst_per_caller));
  watch_options.log_retention_revisions = absl::GetFlag(FLAGS_log_retention_revisions);
  watch_options.log_retention_age = absl::GetFlag(FLAGS_log_retention_age);
  watch_options.max_resume_wait = absl::GetFlag(FLAGS_max_revision_wait);

  // The admin listener comes first, so probes see "starting" while the store opens (a large
  // store's recovery can take a while) rather than a refused connection.
  Metrics metrics;
  options.metrics = &metrics;
  watch_options.metrics = &metrics;
  absl::StatusOr<std::unique_ptr<AdminServer>> admin =
      AdminServer::Start(absl::GetFlag(FLAGS_admin_listen), &metrics);
  if (!admin.ok()) {
    spdlog::error("{}", std::string(admin.status().message()));
    return admin.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (const std::string path = absl::GetFlag(FLAGS_admin_port_file); !path.empty()) {
    if (absl::Status s = WritePortFile(path, (*admin)->port()); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
  }

  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const bool on_etcd = absl::GetFlag(FLAGS_store) == "etcd";
  const std::string store_name = on_etcd
                                     ? absl::StrCat("etcd ", absl::GetFlag(FLAGS_etcd_endpoints),
                                                    " under ", absl::GetFlag(FLAGS_etcd_prefix))
                                     : absl::StrCat("data dir ", data_dir);
  storage::RocksDbStoreOptions store_options;
  store_options.sync = !absl::GetFlag(FLAGS_unsafe_no_fsync);
  if (!store_options.sync) {
    spdlog::warn("--unsafe_no_fsync: acknowledged writes can be lost on a machine crash");
  }
  if (const std::string path = absl::GetFlag(FLAGS_testing_fault_file); !path.empty()) {
    spdlog::warn("--testing_fault_file: storage faults are injected from {} (for tests only)",
                 path);
    store_options.file_system =
        storage::NewFaultInjectionFileSystem(std::make_shared<storage::FileFaultSource>(path));
  }
  if (const std::string path = absl::GetFlag(FLAGS_secret_key_file); !path.empty()) {
    absl::StatusOr<std::shared_ptr<const storage::SecretSealer>> sealer =
        storage::SecretSealer::FromKeyFiles(path, absl::GetFlag(FLAGS_secret_old_key_files));
    if (!sealer.ok()) {
      spdlog::error("{}", std::string(sealer.status().message()));
      return 2;
    }
    store_options.sealer = *std::move(sealer);
  } else if (!absl::GetFlag(FLAGS_secret_old_key_files).empty()) {
    spdlog::error("--secret_old_key_files needs --secret_key_file (the key that seals)");
    return 2;
  } else if (!IsLoopbackListen(absl::GetFlag(FLAGS_listen))) {
    spdlog::warn("no --secret_key_file: secret values are stored unencrypted in the {}",
                 store_name);
  }
  absl::StatusOr<std::unique_ptr<storage::Store>> store;
  if (on_etcd) {
    storage::EtcdStoreOptions etcd;
    etcd.client.endpoints =
        absl::StrSplit(absl::GetFlag(FLAGS_etcd_endpoints), ',', absl::SkipWhitespace());
    for (std::string& e : etcd.client.endpoints) e = std::string(absl::StripAsciiWhitespace(e));
    etcd.client.ca_file = absl::GetFlag(FLAGS_etcd_ca_file);
    etcd.client.cert_file = absl::GetFlag(FLAGS_etcd_cert_file);
    etcd.client.key_file = absl::GetFlag(FLAGS_etcd_key_file);
    etcd.client.server_name = absl::GetFlag(FLAGS_etcd_server_name);
    etcd.client.request_timeout = absl::GetFlag(FLAGS_etcd_request_timeout);
    etcd.prefix = absl::GetFlag(FLAGS_etcd_prefix);
    etcd.sealer = store_options.sealer;
    etcd.new_epoch = absl::GetFlag(FLAGS_new_epoch);
    etcd.max_txn_ops = absl::GetFlag(FLAGS_etcd_max_txn_ops);
    etcd.max_request_bytes = absl::GetFlag(FLAGS_etcd_max_request_bytes);
    etcd.compaction_interval = absl::GetFlag(FLAGS_etcd_compaction_interval);
    etcd.follow_timeout = absl::GetFlag(FLAGS_etcd_follow_timeout);
    store = storage::OpenEtcdStore(etcd);
  } else {
    store_options.disk_reserve_bytes = absl::GetFlag(FLAGS_disk_reserve_bytes);
    store_options.new_epoch = absl::GetFlag(FLAGS_new_epoch);
    store = storage::OpenRocksDbStore(data_dir, store_options);
  }
  if (!store.ok()) {
    spdlog::error("cannot open the store: {}", store.status().ToString());
    return 1;
  }
  Clock* clock = SystemClock::Default();
  std::unique_ptr<FileClock> file_clock;
  if (const std::string path = absl::GetFlag(FLAGS_testing_clock_file); !path.empty()) {
    spdlog::warn("--testing_clock_file: the time is read from {} (for tests only)", path);
    file_clock = std::make_unique<FileClock>(path);
    clock = file_clock.get();
  }
  absl::StatusOr<std::unique_ptr<ConfigCore>> core =
      ConfigCore::Open(*std::move(store), options, clock);
  if (!core.ok()) {
    spdlog::error("cannot load the store ({}): {}", store_name, core.status().ToString());
    return 1;
  }
  if (on_etcd) {
    // A replica takes writes once it follows the other replicas' commits (its watch on etcd is
    // live); until then the committer would refuse them. Bounded: past it, serve anyway and
    // let /readyz say why (reads and streams work from the loaded state).
    const absl::Time deadline = absl::Now() + 4 * absl::GetFlag(FLAGS_etcd_follow_timeout);
    while (!(*core)->StoreHealth().serving && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (storage::StoreHealth health = (*core)->StoreHealth(); !health.serving) {
      spdlog::warn("serving before the store is: {}", health.reason);
    }
  }
  {
    MemoryPlanInput memory;
    memory.limit_bytes = absl::GetFlag(FLAGS_memory_limit_bytes) > 0
                             ? absl::GetFlag(FLAGS_memory_limit_bytes)
                             : CgroupMemoryLimit();
    (*core)->ReadState([&](const ConfigState& state) { memory.index_bytes = state.index_bytes(); });
    memory.max_index_bytes = absl::GetFlag(FLAGS_max_index_bytes);
    memory.requested_subscriptions = absl::GetFlag(FLAGS_max_subscriptions);
    MemoryPlan plan = PlanMemory(memory);
    if (!plan.refusal.ok()) {
      spdlog::error("cannot serve the store ({}): {}", store_name,
                    std::string(plan.refusal.message()));
      return 1;
    }
    for (const std::string& warning : plan.warnings) spdlog::warn("{}", warning);
    watch_options.max_streams = static_cast<size_t>(plan.max_subscriptions);
    spdlog::info("memory: limit {}, index {} bytes, up to {} subscriptions",
                 memory.limit_bytes > 0 ? absl::StrCat(memory.limit_bytes, " bytes") : "none known",
                 memory.index_bytes, plan.max_subscriptions);
  }
  // The hub reads the core's state and hears of its commits. Shutdown order: the core stops
  // telling the hub, the hub ends its streams and stops, then the core stops.
  // Declared before the hub so it is destroyed after it: the hub calls it on every publish.
  std::unique_ptr<InstanceRegistry> instances;
  auto hub = std::make_unique<WatchHub>(
      (*core)->store(),
      [c = core->get()](const std::function<void(const ConfigState&)>& fn) { c->ReadState(fn); },
      watch_options, clock);
  InstanceRegistryOptions instance_options;
  instance_options.grace = absl::GetFlag(FLAGS_instance_grace);
  instances = std::make_unique<InstanceRegistry>(hub.get(), clock, instance_options);
  hub->SetPublishListener([r = instances.get()](int64_t revision) { r->Published(revision); });
  (*core)->SetCommitListener(hub.get());
  struct DetachHub {  // on every return from here on
    std::unique_ptr<ConfigCore>* core;
    ~DetachHub() {
      if (*core != nullptr) (*core)->SetCommitListener(nullptr);
    }
  } detach_hub{&*core};

  HistoryOptions history_options;
  history_options.history_retention_age = absl::GetFlag(FLAGS_history_retention_age);
  history_options.history_keep_versions = std::max(1, absl::GetFlag(FLAGS_history_keep_versions));
  history_options.audit_retention_age = absl::GetFlag(FLAGS_audit_retention_age);
  history_options.compaction_interval =
      std::max(absl::ZeroDuration(), absl::GetFlag(FLAGS_history_compaction_interval));
  auto history = std::make_unique<HistoryCore>(core->get(), history_options, clock);
  // Who may do what: everyone on the loopback default, else the policy, reloaded on change.
  Gatekeeper gate(core->get());
  std::unique_ptr<PolicyWatcher> policy_watcher;
  if (const std::string path = absl::GetFlag(FLAGS_auth_policy); !path.empty()) {
    absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
        PolicyWatcher::Start(path, absl::GetFlag(FLAGS_auth_reload_interval), &gate, &metrics);
    if (!watcher.ok()) {
      spdlog::error("cannot load the access policy: {}", std::string(watcher.status().message()));
      return 2;
    }
    policy_watcher = *std::move(watcher);
  } else {
    spdlog::warn("no --auth_policy: every caller is admin (loopback only)");
  }
  TlsSettings tls;
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  tls.key_file = absl::GetFlag(FLAGS_tls_key);
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  tls.client_auth = absl::GetFlag(FLAGS_tls_client_auth);
  tls.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(tls);
  if (!credentials.ok()) {
    spdlog::error("{}", std::string(credentials.status().message()));
    return 2;
  }
  if (tls.cert_file.empty() && policy_watcher != nullptr &&
      !IsLoopbackListen(absl::GetFlag(FLAGS_listen))) {
    spdlog::warn("bearer tokens travel in plaintext: set --tls_cert unless a mesh encrypts");
  }
  HistoryServiceImpl history_service(history.get(), &gate);

  BackupOptions backup_options;
  backup_options.tmp_dir = absl::GetFlag(FLAGS_backup_tmp_dir);
  backup_options.stall_timeout = absl::GetFlag(FLAGS_backup_stall_timeout);
  if (backup_options.tmp_dir.empty()) {
    std::filesystem::path dir = std::filesystem::absolute(data_dir).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();  // "data/"
    backup_options.tmp_dir = dir.parent_path().string();
  }
  BackupManager backups((*core)->store(), backup_options);
  SecretKeyRotation rotation(store_options.sealer, (*core)->store(), core->get());
  AdminServiceImpl admin_service(&backups, history.get(), &rotation, &gate);

  ConfigServiceImpl config_service(core->get(), &gate);
  TenantServiceImpl tenant_service(core->get(), &gate);
  WatchServiceImpl watch_service(hub.get(), watch_options.max_queued_messages, &metrics, &gate,
                                 instances.get());
  AccessServiceImpl access_service(&gate);
  PeerChannelOptions peer_options;
  peer_options.ca_file = absl::GetFlag(FLAGS_peer_tls_ca);
  peer_options.server_name = absl::GetFlag(FLAGS_peer_tls_server_name);
  if (tls.client_auth == "require") {  // the others want a client certificate: ours
    peer_options.cert_file = tls.cert_file;
    peer_options.key_file = tls.key_file;
  }
  absl::StatusOr<std::unique_ptr<ReplicaPeers>> peers =
      ReplicaPeers::Create((*core)->store(), peer_options);
  if (!peers.ok()) {
    spdlog::error("{}", std::string(peers.status().message()));
    return 2;
  }
  InstanceServiceImpl instance_service(core->get(), instances.get(), &gate, peers->get());
  ReleaseServiceImpl release_service(core->get(), instances.get(), &gate);
  grpc::EnableDefaultHealthCheckService(true);
  // Debian links with --as-needed: without this call the reflection plugin is dropped.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_request_bytes));
  ApplyConnectionSettings(&builder);
  builder.RegisterService(&config_service);
  builder.RegisterService(&tenant_service);
  builder.RegisterService(&watch_service);
  builder.RegisterService(&history_service);
  builder.RegisterService(&admin_service);
  builder.RegisterService(&access_service);
  builder.RegisterService(&instance_service);
  builder.RegisterService(&release_service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counting;
  counting.push_back(RpcMetricsInterceptor(&metrics));
  builder.experimental().SetInterceptorCreators(std::move(counting));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    spdlog::error("cannot listen on {} (address in use or invalid?)", listen);
    return 1;
  }
  // NOT_SERVING until everything below is in place.
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  const char* const kServiceNames[] = {"",
                                       "confcenter.v1.ConfigService",
                                       "confcenter.v1.TenantService",
                                       "confcenter.v1.WatchService",
                                       "confcenter.v1.HistoryService",
                                       "confcenter.v1.AdminService",
                                       "confcenter.v1.AccessService",
                                       "confcenter.v1.InstanceService",
                                       "confcenter.v1.ReleaseService"};
  for (const char* name : kServiceNames) health->SetServingStatus(name, false);
  // Announced before the port file is written and the services report SERVING, so whoever
  // waits for those finds this replica in the list.
  if (on_etcd) {
    // The other replicas ask this one for its instance table at this address.
    std::string advertise = absl::GetFlag(FLAGS_advertise_address);
    if (advertise.empty()) {
      const std::string host = listen.substr(0, listen.rfind(':'));
      if (host == "0.0.0.0" || host == "[::]" || host == "::" || host.empty()) {
        spdlog::warn(
            "--listen {} is a wildcard and --advertise_address is not set: the other replicas "
            "cannot ask this one for its instances (they will name it unreachable)",
            listen);
      } else {
        advertise = absl::StrCat(host, ":", port);
      }
    }
    if (absl::Status s = (*core)->store()->Announce(advertise); !s.ok()) {
      spdlog::warn("cannot announce this replica yet (retried in the background): {}",
                   s.ToString());
    }
  }
  // The HTTP/JSON API calls the services above through the server's in-process channel.
  std::unique_ptr<HttpGateway> http;
  if (const std::string http_listen = absl::GetFlag(FLAGS_http_listen); !http_listen.empty()) {
    HttpGatewayOptions http_options;
    http_options.listen = http_listen;
    http_options.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
    http_options.max_concurrent_requests = absl::GetFlag(FLAGS_http_max_concurrency);
    http_options.max_streams = absl::GetFlag(FLAGS_http_max_streams);
    http_options.allowed_hosts = absl::GetFlag(FLAGS_http_allowed_hosts);
    http_options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
    http_options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
    absl::StatusOr<std::unique_ptr<HttpGateway>> started =
        HttpGateway::Start(http_options, server->InProcessChannel(grpc::ChannelArguments()));
    if (!started.ok()) {
      spdlog::error("{}", std::string(started.status().message()));
      return started.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    http = *std::move(started);
    if (const std::string path = absl::GetFlag(FLAGS_http_port_file); !path.empty()) {
      if (absl::Status s = WritePortFile(path, http->port()); !s.ok()) {
        spdlog::error("{}", s.ToString());
        return 1;
      }
    }
  }
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    if (absl::Status s = WritePortFile(port_file, port); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
  }
  for (const char* name : kServiceNames) health->SetServingStatus(name, true);
  // Attached only now: every early return above destroys the core before the listener.
  (*admin)->AttachCore(core->get(), hub.get(), instances.get());
  // Likewise: the hub (destroyed with the core, below) then never outlives the listener.
  hub->SetSendBurstListener(watch_service.send_burst_listener());
  (*admin)->SetState(ServingState::kServing);
  spdlog::info(
      "confcenterd serving gRPC on port {} ({}), HTTP API on port {}, admin HTTP on port {}, {}, "
      "revision {}",
      port, listen, http != nullptr ? std::to_string(http->port()) : std::string("(off)"),
      (*admin)->port(), store_name, (*core)->revision());
  // Type=notify under systemd; a no-op elsewhere.
  sd_notifyf(0, "READY=1\nSTATUS=serving on port %d\nMAINPID=%d", port, static_cast<int>(getpid()));

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("received signal {}, draining", signal);
  sd_notify(0, "STOPPING=1");
  (*admin)->SetState(ServingState::kDraining);
  health->Shutdown();     // every service reports NOT_SERVING from now on
  hub->Shutdown();        // streams end with UNAVAILABLE and a resume hint
  instances->Shutdown();  // open WaitApplied calls answer now, with what they have
  (*peers)->Shutdown();   // and stop waiting for the other replicas
  http.reset();           // HTTP streams end too; no new HTTP requests
  // Let queued writes commit and answer, then stop. gRPC's Shutdown waits for idle client
  // connections until its deadline, so the deadline is short once the writes are done;
  // reads answer from memory and need no more.
  const absl::Duration grace = absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds));
  if (!(*core)->WaitForWritesDrained(grace)) {
    spdlog::warn("writes still queued after {}; cancelling them", absl::FormatDuration(grace));
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  server->Wait();
  history.reset();  // stops compaction
  (*admin)->DetachCore();
  (*core)->SetCommitListener(nullptr);
  hub.reset();
  core->reset();  // finishes queued writes, closes the store
  spdlog::info("confcenterd stopped");
  return 0;
}

}  // namespace
}  // namespace confcenter

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "confcenterd: multi-tenant configuration center.\n  confcenterd [--listen=127.0.0.1:7070] "
      "[--data_dir=./data] [--config=FILE] [flags]");
  // The file and the environment first; the command line, parsed after, overrides them.
  const std::vector<std::string> own_flag_files = {"server/daemon/main.cc"};
  absl::StatusOr<confcenter::SettingOrigins> origins =
      confcenter::ApplyConfigSources(argc, argv, environ, own_flag_files);
  if (!origins.ok()) {
    std::fprintf(stderr, "confcenterd: %s\n", std::string(origins.status().message()).c_str());
    return 2;
  }
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_check_config)) {
    std::fputs(confcenter::DescribeSettings(argc, argv, *origins, own_flag_files).c_str(), stdout);
    if (absl::Status s = confcenter::CheckSettings(); !s.ok()) {
      std::fprintf(stderr, "confcenterd: %s\n", std::string(s.message()).c_str());
      return 2;
    }
    return 0;
  }
  return confcenter::Run();
}
