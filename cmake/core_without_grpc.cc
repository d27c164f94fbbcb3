// Built against confcenter_core alone (no gRPC library in its link line): proves the domain
// core builds and links without gRPC's C++ library, so other front ends and engines can reuse
// it. It opens a core on a store in a temp dir, commits a write and reads it back; the build
// runs it as the test core_links_without_grpc.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/synchronization/notification.h"
#include "server/core/config_core.h"
#include "storage/rocksdb_store.h"

int main() {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "core_without_grpc.XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 1;
  int rc = 1;
  {
    auto store = confcenter::storage::OpenRocksDbStore(dir + "/db", {});
    if (!store.ok()) return 1;
    confcenter::CoreOptions options;
    options.reclaim_interval = absl::ZeroDuration();
    auto core = confcenter::ConfigCore::Open(*std::move(store), options,
                                             confcenter::SystemClock::Default());
    if (!core.ok()) return 1;
    absl::Notification done;
    absl::Status status;
    confcenter::WriteOp op;
    op.tenant = "integration";
    op.service = "a";
    op.key = "k";
    op.value = "v";
    (*core)->Txn({op}, /*single=*/true, [&](absl::StatusOr<confcenter::TxnResult> result) {
      status = result.status();
      done.Notify();
    });
    done.WaitForNotification();
    auto read = (*core)->Get("integration", "a", "k");
    if (status.ok() && read.ok() && read->entry.value() == "v") rc = 0;
    std::printf("core without gRPC: %s\n", rc == 0 ? "committed and read back" : "FAILED");
  }
  fs::remove_all(dir);
  return rc;
}
