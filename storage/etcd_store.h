// The etcd engine: a shared Store on an etcd v3 cluster, so several confcenterd replicas
// commit to one store (see /work/notes/issue21-design.md, sections 1-4). Every commit is one
// Txn guarded on the head key, so revisions stay dense across replicas; the change log is
// explicit (one key per commit), so etcd's MVCC compaction never leaves a gap in it.
//
// Key layout under the prefix P (binary below P, key_codec encodings, as in RocksDB):
//   P meta/format         EtcdFormat{marker, sealer_check}
//   P meta/head           EtcdHead{revision, audit_sequence, commit_id, last_commit_time}
//   P t/<tenant>          TenantRecord
//   P e/<EncodeEntryKey>  EntryRecord (secrets sealed)
//   P log/<BE last rev>   LogBundle{commit_id, change_sets} of one commit Txn
//   P h/<EncodeHistoryKey>        HistoryRecord
//   P rel/<BE rev>                ChangeSet of a release
//   P ri/<EncodeReleaseIndexKey>  "" (one per tenant a release touches)
//   P aud/<BE last seq>   AuditBundle of one commit Txn
//   P floor/<tenant>      BE revision: the tenant's oldest reconstructible revision
//   P lock/maintenance    replica id, attached to the maintenance leader's lease
#ifndef CONFCENTER_STORAGE_ETCD_STORE_H_
#define CONFCENTER_STORAGE_ETCD_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/etcd_client.h"
#include "storage/secret_seal.h"
#include "storage/store.h"

namespace confcenter::storage {

struct EtcdStoreOptions {
  EtcdOptions client;  // endpoints, TLS, timeouts (etcd_client.h)
  // Every key under it; several stores on one cluster with different prefixes never see each
  // other.
  std::string prefix = "/confcenter/";
  // As RocksDbStoreOptions::sealer (secret_seal.h).
  std::shared_ptr<const SecretSealer> sealer;
  int64_t max_txn_ops = 128;            // must match etcd's --max-txn-ops
  int64_t max_request_bytes = 1572864;  // must match etcd's --max-request-bytes
  // How long an uncertain commit is resolved before UNAVAILABLE.
  absl::Duration commit_timeout = absl::Seconds(10);
  // Watch silent this long -> reconnect, not serving.
  absl::Duration follow_timeout = absl::Seconds(3);
  // etcd MVCC compaction by the maintenance leader; 0 = never.
  absl::Duration compaction_interval = absl::Minutes(5);
  // Ring of recent change sets that ReadChanges serves from memory.
  int recent_changes = 20000;
  // For the maintenance lock's value; "" = hostname:pid.
  std::string replica_id;
  // Start a new epoch now (storage/store_epoch.h): after the etcd cluster was restored from a
  // snapshot (on one replica, before the others start).
  bool new_epoch = false;
};

// Opens the store under options.prefix, creating its format marker and head on first use
// (two replicas racing to create it is safe). Tries once to become the maintenance leader.
// Errors: INVALID_ARGUMENT for bad options; UNAVAILABLE if etcd cannot be reached;
// FAILED_PRECONDITION if the prefix holds something else, a newer format, or secrets sealed
// with another key (or sealed ones while `sealer` is null).
absl::StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_ETCD_STORE_H_
