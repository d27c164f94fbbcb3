// A full disk, for real: confcenterd's data dir is a size-limited tmpfs this test mounts (in a
// mount namespace of its own, so nothing leaks to the machine). Writes are flooded until the
// server counts the disk full (less than its reserve left: RocksDB itself is kept from ENOSPC),
// and in the second test the disk is filled from outside with no reserve, so RocksDB's WAL
// write meets ENOSPC itself. The server must stay up, answer RESOURCE_EXHAUSTED, keep
// serving reads and streams, take deletions, lose nothing it acknowledged, and take writes
// again without a restart once an operator drops old history (AdminService.CompactHistory).
// Needs CAP_SYS_ADMIN (root) or, failing that, unprivileged user namespaces; the test fails,
// never skips, without either.
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "confcenter/v1/admin.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using testing::ApiClient;
using testing::ServerProcess;
using testing::TempDir;
using testing::TestSubscriber;

// A tmpfs of `bytes` mounted on `path` (which must exist) in a new mount namespace of the
// calling thread; confcenterd, forked from it, sees the same mount. Unmounted when it goes.
class SmallFilesystem {
 public:
  SmallFilesystem(std::string path, int64_t bytes) : path_(std::move(path)) {
    if (unshare(CLONE_NEWNS) != 0) {
      // Without CAP_SYS_ADMIN (a container), a user namespace of our own gives it, where the
      // kernel allows them; the test process is still single-threaded here.
      const uid_t uid = getuid();
      const gid_t gid = getgid();
      if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        error_ = absl::StrCat("unshare(CLONE_NEWNS), also in a new user namespace: ",
                              std::strerror(errno));
        return;
      }
      WriteProcFile("/proc/self/setgroups", "deny");
      WriteProcFile("/proc/self/uid_map", absl::StrCat(uid, " ", uid, " 1"));
      WriteProcFile("/proc/self/gid_map", absl::StrCat(gid, " ", gid, " 1"));
    }
    // Best effort (fails where / is not a mount point, e.g. in a chroot): keeps the tmpfs out
    // of the parent namespace; the destructor unmounts it either way.
    mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    const std::string options = absl::StrCat("size=", bytes, ",mode=0700");
    if (mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      error_ = absl::StrCat("mount tmpfs on ", path_, ": ", std::strerror(errno));
      return;
    }
    mounted_ = true;
  }
  ~SmallFilesystem() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  // Empty if mounted.
  const std::string& error() const { return error_; }

 private:
  static void WriteProcFile(const char* path, const std::string& text) {
    std::FILE* f = std::fopen(path, "w");
    if (f == nullptr) return;
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  const std::string path_;
  bool mounted_ = false;
  std::string error_;
};

// Restarts the server on its (same) filesystem and returns integration's view of service svc
// as key -> "value@source"; empty (and a failure) if the read fails.
std::map<std::string, std::string> ViewAfterRestart(ServerProcess& server) {
  std::map<std::string, std::string> view;
  if (!server.Restart()) {
    ADD_FAILURE() << "the server did not restart";
    return view;
  }
  ApiClient api(server.Channel());
  grpc::Status st;
  for (const auto& [key, value] : api.Resolve("integration", {"svc"}, nullptr, &st)) {
    view[key.second] = value;
  }
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  return view;
}

TEST(DiskFullTest, FloodUntilEnospcThenRecoverWithoutRestartLosingNothingAcknowledged) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::filesystem::create_directory(data);
  SmallFilesystem fs(data, int64_t{48} << 20);
  ASSERT_EQ(fs.error(), "") << "this test mounts a tmpfs: run it as root or allow user namespaces";
  ServerProcess server(data, {"--disk_reserve_bytes=" + std::to_string(8 << 20),
                              "--max_tenant_bytes=0", "--history_keep_versions=1"});
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  TestSubscriber subscriber(server.Channel(), "integration", {"svc"}, std::nullopt);

  // Flood 64 KiB values over 8 keys until the disk is full (bounded).
  std::map<std::string, std::string> acked;  // key -> last acknowledged value
  int64_t last_acked_revision = 0;
  int refused_in_a_row = 0, refused = 0, other_errors = 0, writes = 0;
  std::string first_refusal, last_refusal;
  for (; writes < 4000 && refused_in_a_row < 20; ++writes) {
    const std::string key = absl::StrCat("k", writes % 8);
    const std::string value = absl::StrCat(writes, ":", std::string(64 << 10, 'x'));
    int64_t revision = 0;
    grpc::Status st = api.Put("integration", "svc", key, value, &revision);
    if (st.ok()) {
      acked[key] = value;
      last_acked_revision = revision;
      refused_in_a_row = 0;
    } else if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      ++refused_in_a_row;
      if (first_refusal.empty()) first_refusal = st.error_message();
      last_refusal = st.error_message();
    } else {
      ++other_errors;
      ADD_FAILURE() << "write " << writes << ": " << st.error_code() << " " << st.error_message();
    }
  }
  std::printf(
      "flood: %d writes, %zu keys acknowledged up to revision %lld, %d refused\n"
      "first refusal: %.200s\nlast refusal: %.200s\n",
      writes, acked.size(), static_cast<long long>(last_acked_revision), refused,
      first_refusal.c_str(), last_refusal.c_str());
  ASSERT_EQ(refused_in_a_row, 20) << "the disk never filled";
  EXPECT_EQ(other_errors, 0);
  EXPECT_TRUE(absl::StrContains(first_refusal, "disk is full")) << first_refusal;
  EXPECT_TRUE(absl::StrContains(last_refusal, "disk is full")) << last_refusal;

  // Still up: reads and the stream have every acknowledged write.
  std::map<std::pair<std::string, std::string>, std::string> view = api.Resolve("integration");
  for (const auto& [key, value] : acked) {
    EXPECT_EQ((view[{"svc", key}]), value + "@integration") << key;
  }
  ASSERT_TRUE(subscriber.WaitForRevision(last_acked_revision));
  for (const auto& [key, value] : acked) {
    EXPECT_EQ((subscriber.view()[{"svc", key}]), value + "@integration") << key;
  }
  // Deletions free space: taken on a full disk.
  int64_t deleted_at = 0;
  grpc::Status st = api.Delete("integration", "svc", "k0", &deleted_at);
  ASSERT_TRUE(st.ok()) << st.error_message();
  acked.erase("k0");
  EXPECT_TRUE(subscriber.WaitForRevision(deleted_at));

  // An operator drops old history and most of the change log: writes come back, no restart.
  const absl::Time start = absl::Now();
  auto admin = v1::AdminService::NewStub(server.Channel());
  grpc::ClientContext ctx;
  v1::CompactHistoryRequest req;
  req.mutable_older_than()->set_seconds(0);
  req.set_keep_versions(1);
  req.set_keep_change_log_revisions(16);
  v1::CompactHistoryResponse resp;
  st = admin->CompactHistory(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(resp.versions_dropped(), 0);
  EXPECT_LT(resp.store_bytes_after(), resp.store_bytes_before());
  EXPECT_FALSE(resp.disk_full()) << "store " << resp.store_bytes_after() << " bytes";
  int64_t revision = 0;
  st = api.Put("integration", "svc", "after", "recovered", &revision);
  const absl::Duration recovery = absl::Now() - start;
  ASSERT_TRUE(st.ok()) << st.error_message();
  acked["after"] = "recovered";
  std::printf("recovered in %s: dropped %lld versions, store %lld -> %lld bytes\n",
              absl::FormatDuration(recovery).c_str(),
              static_cast<long long>(resp.versions_dropped()),
              static_cast<long long>(resp.store_bytes_before()),
              static_cast<long long>(resp.store_bytes_after()));
  EXPECT_TRUE(subscriber.WaitForRevision(revision));

  // And on disk: a restart (same filesystem) finds exactly what was acknowledged.
  std::map<std::string, std::string> expected;
  for (const auto& [key, value] : acked) expected[key] = value + "@integration";
  EXPECT_EQ(ViewAfterRestart(server), expected);
}

// Fills the filesystem of `dir` with a file `dir`/filler until the disk says ENOSPC; returns
// the bytes written.
int64_t FillDisk(const std::string& dir) {
  std::FILE* filler = std::fopen((dir + "/filler").c_str(), "w");
  if (filler == nullptr) return 0;
  const std::string chunk(1 << 16, 'f');
  int64_t written = 0;
  for (int i = 0; i < 100'000; ++i) {  // bounded: 6 GiB
    const size_t n = std::fwrite(chunk.data(), 1, chunk.size(), filler);
    written += static_cast<int64_t>(n);
    if (n < chunk.size() || std::fflush(filler) != 0) break;
  }
  std::fclose(filler);
  return written;
}

TEST(DiskFullTest, ADiskAnotherProcessFilledIsSurvivedAndWritesResumeOnceSpaceIsFreed) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::filesystem::create_directory(data);
  SmallFilesystem fs(data, int64_t{32} << 20);
  ASSERT_EQ(fs.error(), "") << "this test mounts a tmpfs: run it as root or allow user namespaces";
  // No reserve: the store meets ENOSPC itself, in RocksDB's write-ahead log.
  ServerProcess server(data, {"--disk_reserve_bytes=0"});
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  TestSubscriber subscriber(server.Channel(), "integration", {"svc"}, std::nullopt);
  int64_t acked_at = 0;
  ASSERT_TRUE(api.Put("integration", "svc", "before", "kept", &acked_at).ok());

  ASSERT_GT(FillDisk(data), 0);
  const std::string value(64 << 10, 'x');
  int refused = 0;
  for (int i = 0; i < 50; ++i) {
    grpc::Status st = api.Put("integration", "svc", absl::StrCat("k", i), value);
    ASSERT_FALSE(st.ok()) << "write " << i << " went through on a full disk";
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "disk is full")) << st.error_message();
    ++refused;
  }
  // Up, reading, streaming.
  EXPECT_EQ((api.Resolve("integration")[{"svc", "before"}]), "kept@integration");
  EXPECT_TRUE(subscriber.WaitForRevision(acked_at));

  // The operator frees space: writes go on without a restart.
  std::filesystem::remove(data + "/filler");
  const absl::Time start = absl::Now();
  grpc::Status st;
  int64_t revision = 0;
  for (int i = 0; i < 100; ++i) {  // bounded; the first try after the space is back succeeds
    st = api.Put("integration", "svc", "after", "written", &revision);
    if (st.ok()) break;
  }
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::printf("%d writes refused on the full disk; writes back %s after the space was freed\n",
              refused, absl::FormatDuration(absl::Now() - start).c_str());
  EXPECT_TRUE(subscriber.WaitForRevision(revision));
  EXPECT_EQ(ViewAfterRestart(server),
            (std::map<std::string, std::string>{{"after", "written@integration"},
                                                {"before", "kept@integration"}}));
}

}  // namespace
}  // namespace confcenter
