// The access policy: parsing (errors name the line), role bindings with placeholders, and the
// decisions Access makes from them.
#include "server/auth/policy.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/auth/access.h"

namespace confcenter::auth {
namespace {

constexpr char kPolicy[] = R"(
protected:
  tenants: [integration, "pre-*"]
  roles: [admin, publisher]
bindings:
  - subjects: [{kind: token, name: "ops-*"}]
    roles: [admin]
    tenants: ["*"]
  - subjects: [{kind: token, name: dev}]
    roles: [editor, reader]
    tenants: ["feat-*"]
  - subjects: [{kind: token, name: release}]
    roles: [publisher]
    tenants: [integration]
  - subjects:
      - kind: jwt
        issuer: https://gitlab.example.com
        claims: {project_path: "team/*", ref_type: branch}
    roles: [cd]
    tenants: ["{branch}"]
  - subjects: [{kind: jwt, name: "system:serviceaccount:*:*"}]
    roles: [instance]
    tenants: ["{namespace}"]
    service: "{serviceaccount}"
  - subjects: [{kind: token, name: console}]
    roles: [reader]
    tenants: ["*"]
    act_for_others: true
)";

Identity Token(const std::string& name) {
  Identity id;
  id.kind = IdentityKind::kToken;
  id.name = name;
  return id;
}

Identity GitLab(const std::string& project, const std::string& ref) {
  Identity id;
  id.kind = IdentityKind::kJwt;
  id.issuer = "https://gitlab.example.com";
  id.name = "project_path:" + project + ":ref_type:branch:ref:" + ref;
  id.claims = {{"project_path", project}, {"ref_type", "branch"}, {"branch", ref}};
  return id;
}

Identity ServiceAccount(const std::string& ns, const std::string& name) {
  Identity id;
  id.kind = IdentityKind::kJwt;
  id.issuer = "https://kubernetes.default.svc.cluster.local";
  id.name = "system:serviceaccount:" + ns + ":" + name;
  id.claims = {{"kubernetes.namespace", ns}, {"kubernetes.serviceaccount", name}};
  return id;
}

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Policy> policy = Policy::Parse(kPolicy, "policy.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    policy_ = std::make_shared<const Policy>(*std::move(policy));
  }
  Access AccessOf(Identity id) {
    // orders depends on payments, in every tenant.
    return Access(std::move(id), policy_, [](const std::string&, const std::string& service) {
      return service == "orders" ? std::vector<std::string>{"payments"}
                                 : std::vector<std::string>{};
    });
  }
  std::shared_ptr<const Policy> policy_;
};

TEST_F(PolicyTest, RolesApplyOnTheirTenantsOnly) {
  Access dev = AccessOf(Token("dev"));
  EXPECT_TRUE(dev.Require(Right::kWrite, "feat-x").ok());
  EXPECT_TRUE(dev.Require(Right::kRead, "feat-x").ok());
  EXPECT_FALSE(dev.Require(Right::kReadSecrets, "feat-x").ok());
  EXPECT_FALSE(dev.Require(Right::kRegister, "feat-x").ok());
  absl::Status denied = dev.Require(Right::kWrite, "integration");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("\"write\""), std::string::npos) << denied;
  EXPECT_NE(denied.message().find("\"integration\""), std::string::npos) << denied;
  EXPECT_NE(denied.message().find("token:dev"), std::string::npos) << denied;
}

TEST_F(PolicyTest, EveryTenantNeedsAGrantOnStar) {
  EXPECT_TRUE(AccessOf(Token("ops-alice")).Require(Right::kAdmin, "").ok());
  EXPECT_FALSE(AccessOf(Token("dev")).Require(Right::kRead, "").ok());
  EXPECT_FALSE(AccessOf(Token("release")).Require(Right::kPublish, "").ok());
}

TEST_F(PolicyTest, ProtectedTenantsNeedTheNamedRoles) {
  EXPECT_TRUE(policy_->IsProtected("integration"));
  EXPECT_TRUE(policy_->IsProtected("pre-2026-12"));
  EXPECT_FALSE(policy_->IsProtected("feat-x"));
  Access release = AccessOf(Token("release"));
  EXPECT_TRUE(release.Require(Right::kPublish, "integration").ok());
  EXPECT_TRUE(release.Require(Right::kManageProtected, "integration").ok());
  absl::Status s = AccessOf(Token("dev")).Require(Right::kPublish, "pre-1");
  EXPECT_NE(s.message().find("protected"), std::string::npos) << s;
}

TEST_F(PolicyTest, CiTokensReachOnlyTheirBranchTenant) {
  Access ci = AccessOf(GitLab("team/shop", "feat/X_login"));
  EXPECT_TRUE(ci.Require(Right::kRegister, "feat-x-login").ok());
  EXPECT_FALSE(ci.Require(Right::kRegister, "feat-y").ok());
  EXPECT_FALSE(ci.Require(Right::kRegister, "integration").ok());
  EXPECT_FALSE(ci.Require(Right::kWrite, "feat-x-login").ok());
  // Another project, or a tag, matches no binding.
  EXPECT_TRUE(AccessOf(GitLab("other/shop", "feat/x")).grants().empty());
  Identity tag = GitLab("team/shop", "v1");
  tag.claims["ref_type"] = "tag";
  tag.claims.erase("branch");
  EXPECT_TRUE(AccessOf(tag).grants().empty());
}

TEST_F(PolicyTest, PlaceholderValuesCannotWidenAPattern) {
  Identity sneaky = GitLab("team/shop", "*");
  EXPECT_FALSE(AccessOf(sneaky).Require(Right::kRegister, "feat-x").ok());
}

TEST_F(PolicyTest, InstancesReadTheirViewAndTheirDependenciesEndpoints) {
  Access orders = AccessOf(ServiceAccount("feat-x", "orders"));
  EXPECT_TRUE(orders.RequireRead("feat-x", "orders").ok());
  EXPECT_TRUE(orders.MaySeeSecrets("feat-x", "orders"));
  EXPECT_TRUE(orders.MaySeeKey("feat-x", "orders", "db.password"));
  EXPECT_TRUE(orders.RequireRead("feat-x", "payments").ok());
  EXPECT_FALSE(orders.MaySeeSecrets("feat-x", "payments"));
  EXPECT_TRUE(orders.MaySeeKey("feat-x", "payments", "_endpoint.grpc"));
  EXPECT_FALSE(orders.MaySeeKey("feat-x", "payments", "db.password"));
  EXPECT_FALSE(orders.RequireRead("feat-x", "billing").ok());
  EXPECT_FALSE(orders.RequireRead("feat-y", "orders").ok());
  EXPECT_FALSE(orders.RequireRead("feat-x", "").ok());  // not the whole tenant
  EXPECT_FALSE(orders.Require(Right::kRead, "feat-x").ok());
  EXPECT_FALSE(orders.SeesEverything("feat-x"));
}

TEST_F(PolicyTest, OnlyMarkedBindingsActForOthers) {
  EXPECT_TRUE(AccessOf(Token("console")).ActsForOthers());
  EXPECT_FALSE(AccessOf(Token("dev")).ActsForOthers());
  EXPECT_FALSE(AccessOf(Token("ops-alice")).ActsForOthers());
}

TEST_F(PolicyTest, StrangersGetNothing) {
  EXPECT_TRUE(AccessOf(Token("nobody")).grants().empty());
  EXPECT_TRUE(AccessOf(Identity{}).grants().empty());
}

TEST(PolicyParseTest, AllowAllMakesEveryoneAdmin) {
  auto policy = std::make_shared<const Policy>(Policy::AllowAll());
  Access anyone(Identity{}, policy, nullptr);
  EXPECT_TRUE(anyone.Require(Right::kAdmin, "").ok());
  EXPECT_TRUE(anyone.SeesEverything("integration"));
}

TEST(PolicyParseTest, ReadsTheAuthenticationSection) {
  absl::StatusOr<Policy> policy = Policy::Parse(R"(
authentication:
  static_tokens_file: /etc/confcenter/tokens.yaml
  jwt_issuers:
    - issuer: https://token.actions.githubusercontent.com
      audiences: [confcenter]
      jwks_file: /etc/confcenter/github.json
      leeway_seconds: 30
)",
                                                "p.yaml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->authentication().static_tokens_file, "/etc/confcenter/tokens.yaml");
  ASSERT_EQ(policy->authentication().jwt_issuers.size(), 1u);
  EXPECT_EQ(policy->authentication().jwt_issuers[0].leeway, absl::Seconds(30));
  EXPECT_FALSE(policy->authentication().jwt_issuers[0].allow_hs256);
}

TEST(PolicyParseTest, ErrorsNameTheLineAndTheProblem) {
  struct Case {
    const char* yaml;
    const char* line;
    const char* says;
  };
  const Case cases[] = {
      {"bindings:\n  - subjects: [{kind: token}]\n    roles: [boss]\n    tenants: ['*']\n",
       ":3:", "unknown role \"boss\""},
      {"bindings:\n  - subjects: [{kind: tokn}]\n    roles: [admin]\n    tenants: ['*']\n",
       ":2:", "unknown kind"},
      {"bindings:\n  - subjects: [{kind: token}]\n    roles: [admin]\n", ":2:", "needs tenants"},
      {"bindings:\n  - subjects: [{kind: token}]\n    roles: [admin]\n    tenants: ['{ref}']\n",
       ":4:", "unknown placeholder"},
      {"bindings:\n  - subjects: [{kind: jwt}]\n    roles: [instance]\n    tenants: ['*']\n",
       ":2:", "instance role needs `service`"},
      {"authentication:\n  jwt_issuers:\n    - issuer: x\n      jwks_file: k.json\n",
       ":3:", "needs `audiences`"},
      {"bindngs: []\n", ":1:", "unknown field \"bindngs\""},
      {"bindings: [\n", ":", "not YAML"},
      {"protected:\n  roles: [root]\n", ":2:", "unknown role"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    absl::StatusOr<Policy> policy = Policy::Parse(c.yaml, "p.yaml");
    ASSERT_FALSE(policy.ok());
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(policy.status().message().find(std::string("p.yaml") + c.line), std::string::npos)
        << policy.status();
    EXPECT_NE(policy.status().message().find(c.says), std::string::npos) << policy.status();
  }
}

TEST(PolicyParseTest, GlobsAreShellGlobs) {
  EXPECT_TRUE(GlobMatches("feat-*", "feat-x"));
  EXPECT_FALSE(GlobMatches("feat-*", "integration"));
  EXPECT_TRUE(GlobMatches("pre-?", "pre-1"));
  EXPECT_FALSE(GlobMatches("feat-x", "feat-xy"));
}

}  // namespace
}  // namespace confcenter::auth
