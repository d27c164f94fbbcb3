// confctl backup / restore end to end: the real confctl against the real confcenterd, and
// the restored data dir served by a fresh confcenterd.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "confcenter/subscription.h"
#include "confcenter/v1/admin.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/api_client.h"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
// (service, key) -> "value|content type|source tenant|revision".
using View = std::map<std::pair<std::string, std::string>, std::string>;

std::string Cell(const std::string& value, int content_type, const std::string& source,
                 int64_t revision) {
  return absl::StrCat(value, "|", content_type, "|", source, "|", revision);
}

// Every tenant (as ListTenants shows it) and every tenant's resolved view of every service it
// sees, read at one revision (the caller keeps writers away).
struct Snapshot {
  int64_t revision = 0;
  std::vector<std::string> tenants;  // ListTenants' Tenant messages, as text
  std::map<std::string, View> views;
};

Snapshot ReadSnapshot(const std::shared_ptr<grpc::Channel>& channel) {
  auto tenants = v1::TenantService::NewStub(channel);
  auto config = v1::ConfigService::NewStub(channel);
  Snapshot snapshot;
  v1::ListTenantsRequest list;
  list.set_page_size(1000);
  v1::ListTenantsResponse listed;
  grpc::ClientContext ctx;
  grpc::Status st = tenants->ListTenants(&ctx, list, &listed);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(listed.next_page_token().empty());
  snapshot.revision = listed.revision();
  for (const v1::Tenant& tenant : listed.tenants()) {
    snapshot.tenants.push_back(tenant.ShortDebugString());
    v1::ResolveRequest resolve;
    resolve.set_tenant(tenant.name());
    v1::ResolveResponse resolved;
    grpc::ClientContext c;
    st = config->Resolve(&c, resolve, &resolved);
    EXPECT_TRUE(st.ok()) << tenant.name() << ": " << st.error_message();
    EXPECT_EQ(resolved.revision(), snapshot.revision) << "a write came in during the read";
    View& view = snapshot.views[tenant.name()];
    for (const v1::ResolvedEntry& e : resolved.entries()) {
      view[{e.service(), e.key()}] =
          Cell(e.value(), e.content_type(), e.source_tenant(), e.revision());
    }
  }
  return snapshot;
}

// `current` (the tenant's view now) turned back into its view at `revision`, with the
// server's history: Diff REVISIONS from `revision` to now, undone key by key.
View ViewAt(v1::HistoryService::Stub* history, const std::string& tenant, int64_t revision,
            int64_t now, View current) {
  v1::DiffRequest req;
  req.set_mode(v1::DIFF_MODE_REVISIONS);
  req.set_tenant(tenant);
  req.set_from_revision(revision);
  req.set_to_revision(now);
  v1::DiffResponse diff;
  grpc::ClientContext ctx;
  grpc::Status st = history->Diff(&ctx, req, &diff);
  EXPECT_TRUE(st.ok()) << tenant << ": " << st.error_message();
  for (const v1::DiffEntry& e : diff.entries()) {
    const std::pair<std::string, std::string> key{e.service(), e.key()};
    if (e.has_right()) {
      const v1::DiffValue& r = e.right();
      EXPECT_EQ(current[key], Cell(r.value(), r.content_type(), r.source_tenant(), r.revision()))
          << tenant << " " << e.service() << "/" << e.key();
    }
    if (e.has_left()) {
      const v1::DiffValue& l = e.left();
      current[key] = Cell(l.value(), l.content_type(), l.source_tenant(), l.revision());
    } else {
      current.erase(key);
    }
  }
  return current;
}

v1::TxnOp Op(v1::TxnOpType type, const std::string& tenant, const std::string& service,
             const std::string& key, const std::string& value = "") {
  v1::TxnOp op;
  op.set_type(type);
  op.set_tenant(tenant);
  op.set_service(service);
  op.set_key(key);
  op.set_value(value);
  return op;
}

// Waits (bounded) until `dir` is empty: the server removes a cancelled backup's checkpoint
// once the stream is done, which the client cannot observe otherwise.
bool BecomesEmpty(const std::string& dir) {
  for (int i = 0; i < 2000; ++i) {
    std::error_code ec;
    if (fs::is_empty(dir, ec)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void FlipByte(const std::string& path, int64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x5a));
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_dir());
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data", std::vector<std::string>{"--backup_tmp_dir=" + tmp_dir()});
    ASSERT_NE(server_->port(), 0);
    api_ = std::make_unique<ApiClient>(server_->Channel());
  }

  std::string tmp_dir() const { return dir_.path() + "/backup-tmp"; }
  // `count` values of 900 KiB that do not compress, as integration/blobs/b0...
  void PutIncompressibleBlobs(int count) {
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < count; ++i) {
      std::string value(900 * 1024, ' ');
      for (char& c : value) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c = static_cast<char>('!' + x % 90);
      }
      ASSERT_TRUE(api_->Put("integration", "blobs", absl::StrCat("b", i), value).ok());
    }
  }
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  ConfctlResult Run(const std::vector<std::string>& args) {
    return RunConfctl(args, server_->address());
  }
  std::string Ok(const std::vector<std::string>& args) {
    ConfctlResult result = Run(args);
    EXPECT_EQ(result.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << result.err;
    return result.out;
  }
  // `confctl -o json backup DIR`; returns the manifest it printed.
  Json Backup(const std::string& dir) {
    const std::string out = Ok({"-o", "json", "backup", dir});
    return out.empty() ? Json() : Json::parse(out);
  }

  // integration and branches two and three levels below it, with registered services,
  // values of every content type, overrides, masks, deletes and a multi-tenant Txn.
  void Populate() {
    ASSERT_TRUE(api_->Register("integration", {"gateway", "orders", "users", "writer"}).ok());
    ASSERT_TRUE(api_->Register("feat-a", {"orders"}).ok());
    ASSERT_TRUE(api_->Register("feat-b", {"users"}).ok());
    ASSERT_TRUE(api_->Register("feat-a-fix", {"gateway"}, "feat-a").ok());
    ASSERT_TRUE(api_->Register("feat-a-fix-x", {"writer"}, "feat-a-fix").ok());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(
          api_->Put("integration", "orders", absl::StrCat("k", i), absl::StrCat("i", i)).ok());
      ASSERT_TRUE(
          api_->Put("integration", "users", absl::StrCat("u", i), absl::StrCat("u", i)).ok());
    }
    ASSERT_TRUE(api_->Put("feat-a", "orders", "k1", "a1").ok());
    ASSERT_TRUE(api_->Put("feat-a", "orders", "k9", "a9").ok());
    ASSERT_TRUE(api_->Put("feat-a-fix", "orders", "k2", "fix2").ok());
    ASSERT_TRUE(api_->Mask("feat-a-fix", "orders", "k3").ok());
    ASSERT_TRUE(api_->Mask("feat-b", "users", "u4").ok());
    ASSERT_TRUE(api_->Put("feat-a-fix-x", "users", "u5", "deep").ok());
    ASSERT_TRUE(api_->Put("feat-b", "users", "u6", "gone").ok());
    ASSERT_TRUE(api_->Delete("feat-b", "users", "u6").ok());  // falls back to integration's
    v1::TxnRequest txn;
    *txn.add_ops() = Op(v1::TXN_OP_TYPE_PUT, "integration", "gateway", "routes", "[1, 2]");
    txn.mutable_ops(0)->set_content_type(v1::CONTENT_TYPE_JSON);
    *txn.add_ops() = Op(v1::TXN_OP_TYPE_PUT, "feat-a-fix-x", "gateway", "routes", "a: 1");
    txn.mutable_ops(1)->set_content_type(v1::CONTENT_TYPE_YAML);
    *txn.add_ops() = Op(v1::TXN_OP_TYPE_MASK, "feat-a", "users", "u7");
    *txn.add_ops() = Op(v1::TXN_OP_TYPE_DELETE, "feat-a-fix", "orders", "k2");
    txn.set_release_message("setup");
    ASSERT_TRUE(api_->Txn(txn).ok());
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<ApiClient> api_;
};

// A writer commits Txns across tenants while `confctl backup` runs. The backup holds exactly
// one revision R: a fresh confcenterd on the restored dir is at R, each tenant's resolved view
// there equals the original's view at R (rebuilt through the history API), and the writer's
// atomic pairs are whole.
TEST_F(BackupTest, BackupUnderWritesRestoresEveryTenantsViewAtItsRevision) {
  Populate();
  if (HasFatalFailure()) return;

  // The writer: Txn i sets writer/counter = i in integration and in the deepest branch, and
  // alternately masks and overrides a key (no tenant's key count changes), recording the
  // revision of each i.
  absl::Mutex mu;
  std::map<int64_t, int> counter_at;  // revision -> i
  bool writer_ended = false;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    ApiClient client(server_->Channel());
    for (int i = 1; i <= 100000 && !stop.load(); ++i) {
      v1::TxnRequest txn;
      *txn.add_ops() =
          Op(v1::TXN_OP_TYPE_PUT, "integration", "writer", "counter", std::to_string(i));
      *txn.add_ops() =
          Op(v1::TXN_OP_TYPE_PUT, "feat-a-fix-x", "writer", "counter", std::to_string(i));
      *txn.add_ops() = Op(i % 2 ? v1::TXN_OP_TYPE_MASK : v1::TXN_OP_TYPE_PUT, "feat-a", "orders",
                          "k9", i % 2 ? "" : absl::StrCat("w", i));
      int64_t revision = 0;
      grpc::Status st = client.Txn(txn, &revision);
      EXPECT_TRUE(st.ok()) << st.error_message();
      if (!st.ok()) break;
      absl::MutexLock lock(&mu);
      counter_at[revision] = i;
    }
    absl::MutexLock lock(&mu);
    writer_ended = true;
  });
  size_t want = 5;
  auto enough = [&] { return writer_ended || counter_at.size() >= want; };
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&enough));  // the writer is going
  }
  const std::string backup = Path("backup");
  Json manifest = Backup(backup);
  {
    absl::MutexLock lock(&mu);
    want = counter_at.size() + 5;
    mu.Await(absl::Condition(&enough));  // and kept going after
  }
  stop.store(true);
  writer.join();
  ASSERT_FALSE(counter_at.empty());
  ASSERT_FALSE(manifest.is_null());
  const int64_t revision = std::stoll(manifest["revision"].get<std::string>());
  EXPECT_TRUE(fs::exists(backup + "/confcenter-backup.json"));
  EXPECT_TRUE(fs::is_empty(tmp_dir())) << "the checkpoint was left behind";

  // The writer's revisions straddle the backup's.
  int expected_counter = 0;
  for (const auto& [rev, i] : counter_at) {
    if (rev <= revision) expected_counter = i;
  }
  EXPECT_GT(expected_counter, 0);
  EXPECT_LT(revision, counter_at.rbegin()->first);

  // The original's views at R, from its views now and its history.
  Snapshot now = ReadSnapshot(server_->Channel());
  auto history = v1::HistoryService::NewStub(server_->Channel());
  std::map<std::string, View> expected;
  for (const auto& [tenant, view] : now.views) {
    expected[tenant] = ViewAt(history.get(), tenant, revision, now.revision, view);
  }

  const std::string restored = Path("restored");
  ConfctlResult restore = RunConfctl({"restore", "--backup", backup, "--data_dir", restored}, "");
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_NE(restore.out.find("restored revision " + std::to_string(revision)), std::string::npos)
      << restore.out;
  EXPECT_NE(restore.out.find("next: confcenterd --data_dir=" + restored), std::string::npos)
      << restore.out;

  ServerProcess fresh(restored);
  ASSERT_NE(fresh.port(), 0);
  Snapshot back = ReadSnapshot(fresh.Channel());
  EXPECT_EQ(back.revision, revision);
  EXPECT_EQ(back.tenants, now.tenants);  // the writer changes no tenant
  ASSERT_EQ(back.views.size(), expected.size());
  for (const auto& [tenant, view] : expected) {
    EXPECT_EQ(back.views[tenant], view) << "tenant " << tenant;
  }
  // The writer's Txn at or before R is whole, none after it is there.
  ApiClient restored_api(fresh.Channel());
  const std::pair<std::string, std::string> counter{"writer", "counter"};
  EXPECT_EQ(restored_api.Resolve("integration", {"writer"})[counter],
            absl::StrCat(expected_counter, "@integration"));
  EXPECT_EQ(restored_api.Resolve("feat-a-fix-x", {"writer"})[counter],
            absl::StrCat(expected_counter, "@feat-a-fix-x"));
  // The restored server takes writes after R.
  int64_t next = 0;
  ASSERT_TRUE(restored_api.Put("feat-b", "users", "after", "x", &next).ok());
  EXPECT_EQ(next, revision + 1);
}

v1::SubscribeResponse FirstMessageOfResume(const std::shared_ptr<grpc::Channel>& channel,
                                           int64_t start_revision, const std::string& epoch) {
  return testing::FirstMessageOfResume(channel, "integration", "orders", start_revision, epoch);
}

std::map<std::pair<std::string, std::string>, std::string> ValuesOf(const Subscription& sub) {
  std::map<std::pair<std::string, std::string>, std::string> values;
  for (const auto& [key, value] : sub.Snapshot()) values[key] = value.value;
  return values;
}

// A restore reuses revision numbers: the restored store counts on from the backup's revision
// R, while clients may hold resume points past R from the old store. The restored store has a
// new epoch, so such a resume gets a resync snapshot instead of a replay of other writes that
// would look gap-free (the control without an epoch shows that replay), and a client
// library subscriber, restarted on its cache file, ends up with exactly the restored view.
TEST_F(BackupTest, ARestoreStartsANewEpochAndResumesFromTheOldOneResyncInsteadOfReplaying) {
  ASSERT_TRUE(api_->Register("integration", {"orders"}).ok());
  ASSERT_TRUE(api_->Put("integration", "orders", "a", "1").ok());
  ASSERT_TRUE(api_->Put("integration", "orders", "b", "1").ok());
  const std::string cache = Path("orders-cache.json");
  SubscriptionOptions options;
  options.tenant = "integration";
  options.services = {"orders"};
  options.cache_file = cache;
  auto subscription = Subscription::Start(server_->Channel(), options);

  Json manifest = Backup(Path("backup"));
  ASSERT_FALSE(manifest.is_null());
  const int64_t backup_revision = std::stoll(manifest["revision"].get<std::string>());
  const std::string old_epoch = manifest.value("store_epoch", "");
  EXPECT_EQ(old_epoch.size(), 32u) << manifest.dump();
  // Acknowledged after the backup: not in the restored store.
  ASSERT_TRUE(api_->Put("integration", "orders", "a", "2").ok());
  int64_t resume_point = 0;
  ASSERT_TRUE(api_->Put("integration", "orders", "c", "3", &resume_point).ok());
  ASSERT_TRUE(subscription->WaitForRevision(resume_point, absl::Seconds(20)));
  EXPECT_EQ(subscription->epoch(), old_epoch);
  subscription.reset();  // its cache file holds (resume_point, old_epoch)
  const int port = server_->port();
  server_->Stop();

  const std::string restored = Path("restored");
  // The positional form, as people type it (restore BACKUP DATA_DIR).
  ConfctlResult restore = RunConfctl({"restore", Path("backup"), restored}, "");
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_NE(restore.out.find(absl::StrCat("serve revision ", backup_revision, " in a new epoch")),
            std::string::npos)
      << restore.out;
  EXPECT_NE(restore.out.find("resync snapshot"), std::string::npos) << restore.out;
  ServerProcess fresh(restored, {}, {}, port);
  ASSERT_NE(fresh.port(), 0);
  ApiClient restored_api(fresh.Channel());
  // The restored store passes the old resume point with other writes.
  ASSERT_TRUE(restored_api.Put("integration", "orders", "a", "9").ok());
  ASSERT_TRUE(restored_api.Put("integration", "orders", "d", "4").ok());
  int64_t head = 0;
  ASSERT_TRUE(restored_api.Put("integration", "orders", "e", "5", &head).ok());
  ASSERT_GT(head, resume_point);

  // Control: a resume without an epoch is replayed as if the history were the same one.
  v1::SubscribeResponse blind = FirstMessageOfResume(fresh.Channel(), resume_point, "");
  EXPECT_EQ(blind.kind(), v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);
  // With the old epoch: a resync snapshot of the restored view, in the new epoch.
  v1::SubscribeResponse resync = FirstMessageOfResume(fresh.Channel(), resume_point, old_epoch);
  EXPECT_EQ(resync.kind(), v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
  EXPECT_TRUE(resync.resync());
  EXPECT_EQ(resync.revision(), head);
  const std::string new_epoch = resync.epoch();
  EXPECT_EQ(new_epoch.size(), 32u);
  EXPECT_NE(new_epoch, old_epoch);
  // With the new epoch: a resume, as before the restore.
  EXPECT_EQ(FirstMessageOfResume(fresh.Channel(), resume_point, new_epoch).kind(),
            v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);

  // The client library, restarted on its cache file: the restored view, not the old one
  // patched with the new store's later writes (which would keep c=3 and a=2... then a=9).
  auto restarted = Subscription::Start(fresh.Channel(), options);
  ASSERT_TRUE(restarted->WaitForRevision(head, absl::Seconds(20)));
  const std::map<std::pair<std::string, std::string>, std::string> expected = {
      {{"orders", "a"}, "9"},
      {{"orders", "b"}, "1"},
      {{"orders", "d"}, "4"},
      {{"orders", "e"}, "5"}};
  EXPECT_EQ(ValuesOf(*restarted), expected);
  EXPECT_EQ(restarted->epoch(), new_epoch);
  restarted.reset();

  // The epoch is the store's from now on: a restart keeps it, and the marker is gone.
  EXPECT_FALSE(fs::exists(restored + "/RESTORED_FROM_BACKUP"));
  ASSERT_EQ(fresh.Stop(), 0);
  ASSERT_TRUE(fresh.Restart());
  EXPECT_EQ(FirstMessageOfResume(fresh.Channel(), resume_point, new_epoch).kind(),
            v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);
  // An epoch is an id, not a payload.
  auto stub = v1::WatchService::NewStub(fresh.Channel());
  grpc::ClientContext ctx;
  v1::SubscribeRequest oversized;
  oversized.set_tenant("integration");
  oversized.set_start_revision(1);
  oversized.set_epoch(std::string(4096, 'e'));
  auto reader = stub->Subscribe(&ctx, oversized);
  v1::SubscribeResponse none;
  EXPECT_FALSE(reader->Read(&none));
  const grpc::Status refused = reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("epoch: 4096 bytes"), std::string::npos)
      << refused.error_message();
}

TEST_F(BackupTest, RestoreRefusesADamagedBackupNamingTheFile) {
  Populate();
  if (HasFatalFailure()) return;
  const std::string backup = Path("backup");
  Json manifest = Backup(backup);
  ASSERT_FALSE(manifest.is_null());
  // Alter one byte of the biggest file in one copy, cut it short in another.
  std::string biggest;
  int64_t biggest_size = 0;
  for (const Json& file : manifest["files"]) {
    const int64_t size = std::stoll(file["size_bytes"].get<std::string>());
    if (size > biggest_size) {
      biggest_size = size;
      biggest = file["name"];
    }
  }
  ASSERT_GT(biggest_size, 100);
  const std::string altered = Path("altered");
  const std::string truncated = Path("truncated");
  fs::copy(backup, altered);
  fs::copy(backup, truncated);
  FlipByte(altered + "/" + biggest, biggest_size / 2);
  fs::resize_file(truncated + "/" + biggest, biggest_size - 1);

  for (const std::string& damaged : {altered, truncated}) {
    const std::string data = damaged + "-data";
    ConfctlResult result = RunConfctl({"restore", "--backup", damaged, "--data-dir", data}, "");
    EXPECT_EQ(result.exit_code, 1) << result.out;
    EXPECT_NE(result.err.find("confctl: DATA_LOSS: backup file " + biggest), std::string::npos)
        << result.err;
    EXPECT_FALSE(fs::exists(data)) << "a refused restore left " << data;
  }

  // Not a backup: no manifest.
  fs::create_directories(Path("empty"));
  ConfctlResult result =
      RunConfctl({"restore", "--backup", Path("empty"), "--data-dir", Path("x")}, "");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("confcenter-backup.json"), std::string::npos) << result.err;
  // The target holds something: refused, untouched.
  fs::create_directories(Path("occupied"));
  std::ofstream(Path("occupied/keep")) << "x";
  // Both forms given, differently; or the data dir missing: usage errors naming them.
  result = RunConfctl({"restore", backup, Path("x"), "--backup", Path("y")}, "");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("BACKUP (or --backup): given twice, differently"), std::string::npos)
      << result.err;
  result = RunConfctl({"restore", backup}, "");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("DATA_DIR (or --data-dir) is required"), std::string::npos)
      << result.err;
  result = RunConfctl({"restore", "--backup", backup, "--data-dir", Path("occupied")}, "");
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_NE(result.err.find("is not empty"), std::string::npos) << result.err;
  EXPECT_EQ(std::distance(fs::directory_iterator(Path("occupied")), fs::directory_iterator()), 1);
  // The intact backup still restores.
  EXPECT_EQ(RunConfctl({"restore", "--backup", backup, "--data-dir", Path("ok")}, "").exit_code, 0);
}

TEST_F(BackupTest, BackupRefusesANonEmptyDirectory) {
  const std::string dir = Path("occupied");
  fs::create_directories(dir);
  std::ofstream(dir + "/notes.txt") << "mine";
  ConfctlResult result = Run({"backup", dir});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_NE(result.err.find("backup dir " + dir + " is not empty"), std::string::npos)
      << result.err;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  // An empty existing directory is fine; the table output says what was written.
  fs::create_directories(Path("empty"));
  std::string out = Ok({"backup", Path("empty")});
  EXPECT_NE(out.find("backup of revision "), std::string::npos) << out;
  EXPECT_NE(out.find(" files, "), std::string::npos) << out;
}

// One backup at a time: a second one is RESOURCE_EXHAUSTED while the first streams. A client
// that goes away mid-stream leaves no checkpoint behind, and frees the slot.
TEST_F(BackupTest, OneBackupAtATimeAndACancelledOneLeavesNothingBehind) {
  // ~10 MiB of values that do not compress, so the stream outlasts the transport's buffers.
  PutIncompressibleBlobs(12);
  // No BDP probing: the client's window stays small while it does not read.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel =
      grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
  auto admin = v1::AdminService::NewStub(channel);

  grpc::ClientContext first_ctx;
  auto first = admin->Backup(&first_ctx, v1::BackupRequest());
  v1::BackupResponse message;
  ASSERT_TRUE(first->Read(&message));
  ASSERT_TRUE(message.has_manifest());
  EXPECT_GT(message.manifest().total_bytes(), 10 << 20);
  EXPECT_FALSE(fs::is_empty(tmp_dir()));  // the checkpoint

  grpc::ClientContext second_ctx;
  auto second = admin->Backup(&second_ctx, v1::BackupRequest());
  EXPECT_FALSE(second->Read(&message));
  grpc::Status refused = second->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("already running"), std::string::npos)
      << refused.error_message();

  first_ctx.TryCancel();
  EXPECT_EQ(first->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(BecomesEmpty(tmp_dir())) << "the cancelled backup's checkpoint is still there";

  // The slot is free again, and a whole backup leaves nothing behind either.
  Json manifest = Backup(Path("after-cancel"));
  ASSERT_FALSE(manifest.is_null());
  EXPECT_TRUE(fs::is_empty(tmp_dir()));
}

// A client that stops reading is cut off after --backup_stall_timeout, and its checkpoint and
// slot are given back, without it ever cancelling.
TEST_F(BackupTest, AClientThatStopsReadingIsCutOffAndItsCheckpointRemoved) {
  server_.reset();
  server_ = std::make_unique<ServerProcess>(
      dir_.path() + "/data",
      std::vector<std::string>{"--backup_tmp_dir=" + tmp_dir(), "--backup_stall_timeout=1s"});
  ASSERT_NE(server_->port(), 0);
  api_ = std::make_unique<ApiClient>(server_->Channel());
  PutIncompressibleBlobs(4);  // ~3.5 MiB: more than the client's window
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // the window stays small while nothing is read
  auto channel =
      grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
  auto admin = v1::AdminService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stalled = admin->Backup(&ctx, v1::BackupRequest());
  v1::BackupResponse message;
  ASSERT_TRUE(stalled->Read(&message));
  ASSERT_TRUE(message.has_manifest());
  EXPECT_FALSE(fs::is_empty(tmp_dir()));
  // No more reads: the server's write of the next chunk cannot complete, and after the
  // stall timeout it cancels the call, removes the checkpoint and frees the slot. (The client
  // that stopped reading does not hear of it: its window is full; it ends by itself.)
  EXPECT_TRUE(BecomesEmpty(tmp_dir())) << "the stalled backup's checkpoint is still there";
  Json manifest = Backup(Path("after-stall"));
  ASSERT_FALSE(manifest.is_null());
  ctx.TryCancel();
  stalled->Finish();
}

}  // namespace
}  // namespace confcenter::testing
