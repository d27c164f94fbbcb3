// Limits answered with RESOURCE_EXHAUSTED and a clear message, against the real confcenterd.
// (The per-tenant key quota is in bad_input_test.cc and bad_definition_test.cc; the
// per-stream queue bound in watch_test.cc and operate_test.cc.)
#include <memory>
#include <string>

#include "confcenter/v1/config.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using testing::ApiClient;
using testing::ServerProcess;
using testing::StoreFingerprint;
using testing::TempDir;
using testing::TestSubscriber;

TEST(LimitsTest, OneSubscriptionMoreThanMaxSubscriptionsIsRefusedUntilOneEnds) {
  TempDir dir;
  ServerProcess server(dir.path() + "/data", {"--max_subscriptions=2"});
  ASSERT_NE(server.port(), 0);
  auto first = std::make_unique<TestSubscriber>(server.Channel(), "integration",
                                                std::vector<std::string>{}, std::nullopt);
  TestSubscriber second(server.Channel(), "integration", {}, std::nullopt);
  ASSERT_TRUE(first->WaitForMessages(1));
  ASSERT_TRUE(second.WaitForMessages(1));
  TestSubscriber third(server.Channel(), "integration", {}, std::nullopt);
  grpc::Status refused = third.WaitForEnd();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("2 open subscriptions"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("--max_subscriptions"), std::string::npos);

  first.reset();  // cancels; the server forgets the stream once gRPC has torn it down
  bool admitted = false;
  for (int attempt = 0; attempt < 200 && !admitted; ++attempt) {  // bounded: the teardown
    TestSubscriber again(server.Channel(), "integration", {}, std::nullopt);
    admitted = again.WaitForMessages(1);
  }
  EXPECT_TRUE(admitted);
}

TEST(LimitsTest, ARequestLargerThanMaxRequestBytesIsRefusedAndChangesNothing) {
  TempDir dir;
  ServerProcess server(dir.path() + "/data",
                       {"--max_request_bytes=4096", "--max_value_bytes=1024"});
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  ASSERT_TRUE(api.Put("integration", "svc", "k", "small").ok());
  const std::string before = StoreFingerprint(api.config(), api.tenants());

  grpc::Status too_big = api.Put("integration", "svc", "k", std::string(8192, 'x'));
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(too_big.error_message().find("larger than max"), std::string::npos)
      << too_big.error_message();
  grpc::Status value_too_big = api.Put("integration", "svc", "k", std::string(2048, 'x'));
  EXPECT_EQ(value_too_big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(value_too_big.error_message().find("value"), std::string::npos)
      << value_too_big.error_message();
  EXPECT_EQ(StoreFingerprint(api.config(), api.tenants()), before);
}

}  // namespace
}  // namespace confcenter
