// Data dirs written by earlier releases open unchanged: confcenterd started on a copy of
// tests/storage/testdata/store-v0.1 (written by 0.1.0, see its README.md) answers every read
// exactly as 0.1.0 did (expected.txt there, confctl -o json output per read).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

namespace fs = std::filesystem;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

// One read of expected.txt: the confctl arguments after "-o json" and the JSON it printed.
struct Section {
  std::vector<std::string> args;
  std::string json;
};

struct Expected {
  int64_t clock_micros = 0;
  std::vector<Section> sections;
};

Expected ReadExpected(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  Expected out;
  constexpr char kClock[] = "# clock_micros ";
  constexpr char kCommand[] = "# confctl -o json ";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kClock, 0) == 0) {
      out.clock_micros = std::stoll(line.substr(sizeof(kClock) - 1));
    } else if (line.rfind(kCommand, 0) == 0) {
      out.sections.push_back(
          {absl::StrSplit(line.substr(sizeof(kCommand) - 1), ' ', absl::SkipEmpty()), ""});
    } else if (!out.sections.empty()) {
      out.sections.back().json += line + "\n";
    }
  }
  return out;
}

// Every page of a paged read, merged as confctl merges them (items appended, the last page's
// revision, no page token).
template <typename Request, typename Response, typename Call>
Response AllPages(Request request, Call call) {
  request.set_page_size(100);
  Response all;
  while (true) {
    Response page;
    grpc::ClientContext ctx;
    grpc::Status status = call(&ctx, request, &page);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    all.MergeFrom(page);
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  all.clear_next_page_token();
  return all;
}

template <typename Request, typename Response, typename Call>
Response One(const Request& request, Call call) {
  Response response;
  grpc::ClientContext ctx;
  grpc::Status status = call(&ctx, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

class StoreFormatTest : public ::testing::Test {
 protected:
  // The answer of the read confctl made with `args`, as the same API message confctl printed.
  std::unique_ptr<google::protobuf::Message> Read(const std::vector<std::string>& args) {
    const std::string& command = args.at(0);
    auto arg = [&](size_t i) { return i < args.size() ? args[i] : std::string(); };
    if (command == "tenants") {
      return Own(AllPages<v1::ListTenantsRequest, v1::ListTenantsResponse>(
          {}, [&](auto* c, auto& q, auto* r) { return tenants_->ListTenants(c, q, r); }));
    }
    if (command == "tenant") {
      v1::GetTenantRequest request;
      request.set_tenant(arg(1));
      return Own(One<v1::GetTenantRequest, v1::GetTenantResponse>(
          request, [&](auto* c, auto& q, auto* r) { return tenants_->GetTenant(c, q, r); }));
    }
    if (command == "resolve") {
      v1::ResolveRequest request;
      request.set_tenant(arg(1));
      return Own(One<v1::ResolveRequest, v1::ResolveResponse>(
          request, [&](auto* c, auto& q, auto* r) { return config_->Resolve(c, q, r); }));
    }
    if (command == "list") {
      v1::ListRequest request;
      request.set_tenant(arg(1));
      return Own(AllPages<v1::ListRequest, v1::ListResponse>(
          request, [&](auto* c, auto& q, auto* r) { return config_->List(c, q, r); }));
    }
    if (command == "history") {
      v1::HistoryRequest request;
      request.set_tenant(arg(1));
      return Own(AllPages<v1::HistoryRequest, v1::HistoryResponse>(
          request, [&](auto* c, auto& q, auto* r) { return history_->History(c, q, r); }));
    }
    if (command == "releases") {
      v1::ListReleasesRequest request;
      request.set_tenant(arg(1));
      return Own(AllPages<v1::ListReleasesRequest, v1::ListReleasesResponse>(
          request, [&](auto* c, auto& q, auto* r) { return history_->ListReleases(c, q, r); }));
    }
    if (command == "release") {
      v1::GetReleaseRequest request;
      request.set_release_id(std::stoll(arg(1)));
      return Own(One<v1::GetReleaseRequest, v1::GetReleaseResponse>(
          request, [&](auto* c, auto& q, auto* r) { return history_->GetRelease(c, q, r); }));
    }
    if (command == "deps") {
      v1::ResolveDependenciesRequest request;
      request.set_tenant(arg(1));
      request.set_service(arg(2));
      return Own(One<v1::ResolveDependenciesRequest, v1::ResolveDependenciesResponse>(
          request,
          [&](auto* c, auto& q, auto* r) { return tenants_->ResolveDependencies(c, q, r); }));
    }
    if (command == "audit") {
      return Own(AllPages<v1::QueryAuditRequest, v1::QueryAuditResponse>(
          {}, [&](auto* c, auto& q, auto* r) { return history_->QueryAudit(c, q, r); }));
    }
    ADD_FAILURE() << "expected.txt names a read this test does not know: " << command;
    return nullptr;
  }

  template <typename M>
  static std::unique_ptr<google::protobuf::Message> Own(M message) {
    return std::make_unique<M>(std::move(message));
  }

  std::unique_ptr<v1::ConfigService::Stub> config_;
  std::unique_ptr<v1::TenantService::Stub> tenants_;
  std::unique_ptr<v1::HistoryService::Stub> history_;
};

TEST_F(StoreFormatTest, OpensStoreV01Unchanged) {
  const std::string source = std::string(STORE_TESTDATA_DIR) + "/store-v0.1";
  Expected expected = ReadExpected(source + "/expected.txt");
  ASSERT_GT(expected.clock_micros, 0);
  ASSERT_GE(expected.sections.size(), 20u);

  // The server runs on a copy (opening a store writes to it) at the time the reads were made,
  // so the TTL'd tenant is still there and no history has aged out.
  TempDir dir;
  const std::string data = dir.path() + "/data";
  fs::copy(source + "/data", data, fs::copy_options::recursive);
  const std::string clock = dir.path() + "/clock";
  std::ofstream(clock) << expected.clock_micros << "\n";
  ServerProcess server(data, {"--testing_clock_file=" + clock});
  ASSERT_NE(server.port(), 0);
  config_ = v1::ConfigService::NewStub(server.Channel());
  tenants_ = v1::TenantService::NewStub(server.Channel());
  history_ = v1::HistoryService::NewStub(server.Channel());

  for (const Section& section : expected.sections) {
    const std::string command = "confctl -o json " + absl::StrJoin(section.args, " ");
    SCOPED_TRACE(command);
    std::unique_ptr<google::protobuf::Message> actual = Read(section.args);
    ASSERT_NE(actual, nullptr);
    std::unique_ptr<google::protobuf::Message> want(actual->New());
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(section.json, want.get(), options).ok())
        << section.json;
    google::protobuf::util::MessageDifferencer differencer;
    std::string differences;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(*want, *actual)) << differences;
  }

  // Every definition survived in full: one field of each nested message, spot-checked by name.
  v1::GetTenantRequest request;
  request.set_tenant("integration");
  auto response = One<v1::GetTenantRequest, v1::GetTenantResponse>(
      request, [&](auto* c, auto& q, auto* r) { return tenants_->GetTenant(c, q, r); });
  ASSERT_EQ(response.tenant().services_size(), 3);
  const v1::ServiceDefinition& payments = response.tenant().services(2).definition();
  EXPECT_EQ(payments.name(), "payments");
  EXPECT_EQ(payments.metadata().at("owner"), "team-pay");
  EXPECT_EQ(payments.definition_version(), "1.0");
  EXPECT_EQ(payments.version(), "1.3.2");
  EXPECT_EQ(payments.protocol(), v1::PROTOCOL_GRPC);
  EXPECT_EQ(payments.endpoints(1).address_template(), "{service}-metrics.{tenant}.internal:{port}");
  EXPECT_EQ(payments.dependencies(0).range(), "^2.0");
  EXPECT_EQ(payments.defaults().at("retry.backoff"), "250ms");
  EXPECT_EQ(payments.generated_keys(2).kind(), v1::GENERATED_KEY_KIND_TOKEN);
  EXPECT_EQ(payments.generated_keys(2).length(), 40);
  EXPECT_EQ(payments.health().path(), "grpc.health.v1.Health");
  EXPECT_EQ(payments.self_check().path(), "payments.v1.SelfCheck");
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace confcenter
