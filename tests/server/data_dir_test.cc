// confcenterd refuses, at start-up, a data dir that is not a healthy confcenter store: it
// exits non-zero with one line naming the dir and the problem, and never serves. An empty dir
// (or an empty database whose creation was cut short) is a new store.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "tests/api_client.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

namespace fs = std::filesystem;
using confcenter::testing::ApiClient;
using confcenter::testing::RunServerToExit;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

class DataDirTest : public ::testing::Test {
 protected:
  std::string data() const { return dir_.path() + "/data"; }

  // Runs confcenterd on the data dir and expects a refusal: exit code 1, one line naming the
  // dir and containing `problem`, no port file (it never served).
  void ExpectRefused(const std::string& problem) {
    const std::string port_file = dir_.path() + "/port";
    std::string output;
    int code = RunServerToExit(
        {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
         "--data_dir=" + data(), "--port_file=" + port_file},
        &output, /*env=*/{}, /*timeout_seconds=*/20);
    EXPECT_EQ(code, 1) << output;
    EXPECT_NE(output.find("data dir " + data()), std::string::npos) << output;
    EXPECT_NE(output.find(problem), std::string::npos) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
    EXPECT_FALSE(fs::exists(port_file));
  }

  // A confcenter store with a few writes, closed cleanly twice so its data is in table files.
  void MakeStore() {
    {
      ServerProcess server(data());
      ASSERT_NE(server.port(), 0);
      ApiClient api(server.Channel());
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(
            api.Put("integration", "svc", "k" + std::to_string(i), std::string(100, 'a' + i % 26))
                .ok());
      }
      ASSERT_EQ(server.Stop(), 0);
    }
    ServerProcess again(data());  // opening flushes the WAL into a table file
    ASSERT_NE(again.port(), 0);
    ASSERT_EQ(again.Stop(), 0);
  }

  std::vector<fs::path> Files(const std::string& prefix_or_ext) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(data())) {
      const std::string name = e.path().filename().string();
      if (name.rfind(prefix_or_ext, 0) == 0 || e.path().extension() == prefix_or_ext) {
        out.push_back(e.path());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Opens the store's RocksDB directly, with all its column families, and runs `fn`.
  void WithRawDb(const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle* meta)>& fn) {
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), data(), descriptors, &handles, &db).ok());
    fn(db, handles[0]);
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
  }

  TempDir dir_;
};

TEST_F(DataDirTest, EmptyDirIsANewStore) {
  fs::create_directory(data());
  ServerProcess server(data());
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  EXPECT_TRUE(api.Put("integration", "svc", "k", "v").ok());
}

TEST_F(DataDirTest, DirWithOtherFilesIsRefused) {
  fs::create_directory(data());
  std::ofstream(data() + "/notes.txt") << "not a store";
  ExpectRefused("holds no confcenter store");
}

TEST_F(DataDirTest, AnotherApplicationsRocksDbIsRefused) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, data(), &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "user:1", "alice").ok());
  delete db;
  ExpectRefused("is not a confcenter store (it lacks the confcenter column families)");
}

TEST_F(DataDirTest, EmptyRocksDbIsANewStore) {
  // What a kill between creating the database and its column families leaves.
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, data(), &db).ok());
  delete db;
  ServerProcess server(data());
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  EXPECT_TRUE(api.Put("integration", "svc", "k", "v").ok());
}

TEST_F(DataDirTest, RocksDbWithOurColumnFamiliesButNoMarkerIsRefusedUnlessEmpty) {
  // Column families of the right names and no data: a store whose creation was cut short
  // between creating the database and writing its marker. It is taken as new.
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : {"default", "entries", "tenants", "changes"}) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, data(), descriptors, &handles, &db).ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
  {
    ServerProcess server(data());
    ASSERT_NE(server.port(), 0);
  }
  // The same names holding someone else's data (no marker) are refused.
  fs::remove_all(data());
  handles.clear();
  ASSERT_TRUE(rocksdb::DB::Open(options, data(), descriptors, &handles, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], "some", "data").ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
  ExpectRefused("without the confcenter format marker");
}

TEST_F(DataDirTest, StoreOfANewerFormatIsRefused) {
  MakeStore();
  WithRawDb([](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(db->Put(wo, meta, "format", "confcenter-store-2").ok());
  });
  ExpectRefused("written by a newer confcenterd (store format 2");
}

TEST_F(DataDirTest, CurrentNamingAMissingManifestOrGarbageIsRefused) {
  MakeStore();
  std::ofstream(data() + "/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
  ExpectRefused("a file the store needs is missing");
  std::ofstream(data() + "/CURRENT", std::ios::trunc) << "\x01garbage";
  ExpectRefused("the store is corrupt");
}

TEST_F(DataDirTest, TruncatedManifestIsRefused) {
  MakeStore();
  fs::copy(data(), data() + ".intact");
  // Cut in half, or so short that it lists none of our column families (still corrupt, not
  // "another application's database").
  for (bool half : {true, false}) {
    SCOPED_TRACE(half ? "half" : "100 bytes");
    fs::remove_all(data());
    fs::copy(data() + ".intact", data());
    std::vector<fs::path> manifests = Files("MANIFEST-");
    ASSERT_FALSE(manifests.empty());
    fs::resize_file(manifests.back(), half ? fs::file_size(manifests.back()) / 2 : 100);
    ExpectRefused("the store is corrupt");
  }
}

TEST_F(DataDirTest, TruncatedTableFileIsRefused) {
  MakeStore();
  std::vector<fs::path> tables = Files(".sst");
  ASSERT_FALSE(tables.empty());
  for (const fs::path& t : tables) fs::resize_file(t, fs::file_size(t) / 2);
  ExpectRefused("the store is corrupt");
}

TEST_F(DataDirTest, TableFileWithFlippedBytesIsRefused) {
  MakeStore();
  std::vector<fs::path> tables = Files(".sst");
  ASSERT_FALSE(tables.empty());
  // The largest table; bytes in its first data block (same size, so only checksums see it).
  fs::path largest = *std::max_element(tables.begin(), tables.end(), [](auto& a, auto& b) {
    return fs::file_size(a) < fs::file_size(b);
  });
  std::fstream f(largest, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(100);
  f.write("CORRUPTED-BYTES", 15);
  f.close();
  ExpectRefused("the store is corrupt");
}

}  // namespace
}  // namespace confcenter
