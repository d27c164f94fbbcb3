// Txn (and Put, Delete, Mask as one-op transactions): atomic writes of own entries under one
// revision, with optional compare-and-set per key.
#ifndef CONFCENTER_SERVER_CORE_WRITES_TXN_H_
#define CONFCENTER_SERVER_CORE_WRITES_TXN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/write.h"
#include "storage/records.pb.h"

namespace confcenter {

enum class WriteOpType { kPut, kDelete, kMask };

// One write to a tenant's own entry.
struct WriteOp {
  WriteOpType type = WriteOpType::kPut;
  std::string tenant;
  std::string service;
  std::string key;
  std::string value;         // kPut only
  int32_t content_type = 0;  // kPut only; 0 is stored as TEXT (1)
  // Compare-and-set: nullopt = unconditional, 0 = no own entry, N = own entry at revision N.
  std::optional<int64_t> expected_revision;
  // kPut only: the value is a secret (see storage::EntryRecord.secret).
  bool secret = false;
};

struct TxnResult {
  int64_t revision = 0;
  // Per op: the entry as written (put, mask) or as it was before (delete).
  std::vector<storage::EntryRecord> entries;
};

using TxnDone = std::function<void(absl::StatusOr<TxnResult>)>;

// Applies `ops` atomically under one revision. `single` names fields without the "ops[i]."
// prefix and records the write as a Put (not a release). Errors: INVALID_ARGUMENT (names,
// sizes, duplicate keys, --max_txn_ops), NOT_FOUND (tenant; the entry of a delete),
// FAILED_PRECONDITION (compare-and-set), RESOURCE_EXHAUSTED (--max_keys_per_tenant).
std::unique_ptr<Write> MakeTxnWrite(std::vector<WriteOp> ops, bool single, TxnDone done);

// Plans `ops` into `change_set` against the context's overlay and advances the overlay; on
// success `result` holds the entries. Shared by Txn and Rollback.
absl::Status PlanOps(const std::vector<WriteOp>& ops, bool single, const PlanContext& context,
                     storage::ChangeSet& change_set, TxnResult& result);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITES_TXN_H_
