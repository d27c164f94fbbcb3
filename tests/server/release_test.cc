// The release workflow (ReleaseService) end to end against the real confcenterd: the seed's
// pre-release flow (integration tested, promotion previewed, promoted into a reviewed
// pre-release root as a draft, published by a second identity, one event per subscriber),
// draft conflicts, blast radius, durability across a restart, and reset of a perf tenant.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using testing::Eventually;
using testing::ServerProcess;
using testing::TempDir;
using testing::TestSubscriber;

class ReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_NE(server_->port(), 0);
    admin_ = ClientAs("");
    alice_ = ClientAs("alice");
    bob_ = ClientAs("bob");
  }

  std::unique_ptr<Client> ClientAs(const std::string& user) {
    ClientOptions options;
    options.address = server_->address();
    options.user = user;
    options.wait_for_ready = true;
    return std::make_unique<Client>(options);
  }

  // Registers `tenant` (a root if `parent` is empty) with service "orders": endpoint, a
  // default, a generated secret and a declared secret.
  void Register(const std::string& tenant, const std::string& parent) {
    v1::RegisterRequest r;
    r.set_tenant(tenant);
    if (parent.empty()) {
      r.set_root(true);
    } else {
      r.set_parent(parent);
    }
    v1::ServiceDefinition* def = r.add_services();
    def->set_name("orders");
    v1::Endpoint* endpoint = def->add_endpoints();
    endpoint->set_name("grpc");
    endpoint->set_port(9090);
    (*def->mutable_defaults())["pool.size"] = "8";
    v1::GeneratedKey* generated = def->add_generated_keys();
    generated->set_key("db.password");
    generated->set_kind(v1::GENERATED_KEY_KIND_SECRET);
    def->add_secret_keys("api.token");
    absl::StatusOr<v1::RegisterResponse> done = admin_->Register(r);
    ASSERT_TRUE(done.ok()) << done.status();
  }

  int64_t Put(const std::string& tenant, const std::string& key, const std::string& value,
              bool secret = false) {
    v1::PutRequest put;
    put.set_tenant(tenant);
    put.set_service("orders");
    put.set_key(key);
    put.set_value(value);
    put.set_secret(secret);
    absl::StatusOr<v1::PutResponse> done = admin_->Put(put);
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? done->revision() : 0;
  }

  // tenant's resolved view of orders: key -> value.
  std::map<std::string, std::string> View(const std::string& tenant) {
    v1::ResolveRequest r;
    r.set_tenant(tenant);
    r.add_services("orders");
    absl::StatusOr<v1::ResolveResponse> resolved = admin_->Resolve(r);
    EXPECT_TRUE(resolved.ok()) << resolved.status();
    std::map<std::string, std::string> out;
    if (resolved.ok()) {
      for (const v1::ResolvedEntry& e : resolved->entries()) out[e.key()] = e.value();
    }
    return out;
  }

  int64_t Revision() {
    v1::GetTenantRequest r;
    r.set_tenant("integration");
    absl::StatusOr<v1::GetTenantResponse> got = admin_->GetTenant(r);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? got->revision() : -1;
  }

  void SetReview(const std::string& tenant, bool drafts, bool four_eyes) {
    v1::SetReviewRequest r;
    r.set_tenant(tenant);
    r.mutable_review()->set_drafts_required(drafts);
    r.mutable_review()->set_publisher_not_author(four_eyes);
    absl::StatusOr<v1::SetReviewResponse> done = admin_->SetReview(r);
    ASSERT_TRUE(done.ok()) << done.status();
  }

  absl::StatusOr<v1::DraftResponse> CreateDraft(Client& client, const std::string& tenant,
                                                std::vector<v1::DraftChange> changes,
                                                const std::string& message = "") {
    v1::CreateDraftRequest r;
    r.set_tenant(tenant);
    r.set_message(message);
    for (v1::DraftChange& c : changes) *r.add_changes() = std::move(c);
    return client.CreateDraft(r);
  }

  static v1::DraftChange Change(const std::string& key, const std::string& value,
                                v1::DraftOp op = v1::DRAFT_OP_PUT) {
    v1::DraftChange c;
    c.set_service("orders");
    c.set_key(key);
    c.set_op(op);
    if (op == v1::DRAFT_OP_PUT) c.set_value(value);
    return c;
  }

  absl::StatusOr<v1::PublishDraftResponse> Publish(Client& client, const std::string& tenant,
                                                   int64_t id, bool rebase = false) {
    v1::PublishDraftRequest r;
    r.set_tenant(tenant);
    r.set_draft_id(id);
    r.set_rebase(rebase);
    return client.PublishDraft(r);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> admin_, alice_, bob_;
};

TEST_F(ReleaseTest, PreReleaseFlowPromotesTestedIntegrationThroughAReviewedDraftAsOneEvent) {
  // integration, tested: its own values, and environment-own keys (generated, secret,
  // endpoints) that must never travel.
  Register("integration", "");
  Put("integration", "pool.size", "16");
  Put("integration", "timeout", "2s");
  Put("integration", "feature.x", "on");
  Put("integration", "api.token", "integration-token");
  // pre-acme: a pre-release root of its own, reviewed by a second pair of eyes.
  Register("pre-acme", "");
  Put("pre-acme", "timeout", "5s");
  Put("pre-acme", "legacy", "1");
  Put("pre-acme", "api.token", "acme-token");
  SetReview("pre-acme", true, true);
  const std::map<std::string, std::string> pre_before = View("pre-acme");

  TestSubscriber subscriber(server_->Channel(), "pre-acme", {"orders"}, std::nullopt);
  ASSERT_TRUE(subscriber.WaitForMessages(1));  // the snapshot

  // The dry run lists every ADDED/REMOVED/CHANGED key and writes nothing.
  v1::PromoteRequest promote;
  promote.set_from_tenant("integration");
  promote.set_to_tenant("pre-acme");
  promote.set_remove_missing(true);
  promote.set_dry_run(true);
  const int64_t revision_before = Revision();
  absl::StatusOr<v1::PromoteResponse> preview = alice_->Promote(promote);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_TRUE(preview->dry_run());
  std::map<std::string, v1::DiffType> planned;
  for (const v1::DiffEntry& e : preview->changes()) planned[e.key()] = e.type();
  EXPECT_EQ(planned, (std::map<std::string, v1::DiffType>{{"feature.x", v1::DIFF_TYPE_ADDED},
                                                          {"legacy", v1::DIFF_TYPE_REMOVED},
                                                          {"pool.size", v1::DIFF_TYPE_CHANGED},
                                                          {"timeout", v1::DIFF_TYPE_CHANGED}}));
  EXPECT_GE(preview->skipped(), 3);  // db.password, api.token, _endpoint.grpc
  EXPECT_EQ(Revision(), revision_before) << "a dry run wrote";
  EXPECT_EQ(View("pre-acme"), pre_before);

  // Promoted for real: a draft by alice, nothing live yet, no event.
  promote.set_dry_run(false);
  promote.set_message("acme: integration build 42");
  absl::StatusOr<v1::PromoteResponse> promoted = alice_->Promote(promote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  ASSERT_NE(promoted->draft_id(), 0);
  EXPECT_EQ(promoted->release_id(), 0);
  EXPECT_EQ(View("pre-acme"), pre_before);
  // A direct write is refused while the tenant is reviewed.
  v1::PutRequest direct;
  direct.set_tenant("pre-acme");
  direct.set_service("orders");
  direct.set_key("timeout");
  direct.set_value("1s");
  EXPECT_EQ(admin_->Put(direct).status().code(), absl::StatusCode::kFailedPrecondition);

  v1::ListDraftsRequest list;
  list.set_tenant("pre-acme");
  absl::StatusOr<v1::ListDraftsResponse> drafts = bob_->ListDrafts(list);
  ASSERT_TRUE(drafts.ok()) << drafts.status();
  ASSERT_EQ(drafts->drafts_size(), 1);
  EXPECT_EQ(drafts->drafts(0).author(), "alice");
  EXPECT_EQ(drafts->drafts(0).change_count(), 4);
  EXPECT_EQ(drafts->drafts(0).origin(), "promote from integration");
  v1::GetDraftRequest get;
  get.set_tenant("pre-acme");
  get.set_draft_id(promoted->draft_id());
  absl::StatusOr<v1::DraftResponse> shown = bob_->GetDraft(get);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->diff_size(), 4);
  EXPECT_EQ(std::vector<std::string>(shown->blast_radius().tenants().begin(),
                                     shown->blast_radius().tenants().end()),
            std::vector<std::string>{"pre-acme"});
  EXPECT_EQ(shown->blast_radius().instances(), 1);  // the subscriber (anonymous, listed too)
  EXPECT_EQ(shown->conflicts_size(), 0);

  // The author may not publish it; bob may, as one release.
  absl::StatusOr<v1::PublishDraftResponse> by_author =
      Publish(*alice_, "pre-acme", promoted->draft_id());
  EXPECT_EQ(by_author.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(by_author.status().message(), "draft_id:")) << by_author.status();
  absl::StatusOr<v1::PublishDraftResponse> published =
      Publish(*bob_, "pre-acme", promoted->draft_id());
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->changes_size(), 4);
  ASSERT_TRUE(subscriber.WaitForRevision(published->revision()));

  // pre-acme now has integration's tested values and keeps its own secrets and endpoints.
  std::map<std::string, std::string> after = View("pre-acme");
  EXPECT_EQ(after["pool.size"], "16");
  EXPECT_EQ(after["timeout"], "2s");
  EXPECT_EQ(after["feature.x"], "on");
  EXPECT_EQ(after.count("legacy"), 0u);
  EXPECT_EQ(after["api.token"], "acme-token");
  EXPECT_EQ(after["db.password"], pre_before.at("db.password"));
  EXPECT_NE(after["db.password"], View("integration")["db.password"]);
  EXPECT_EQ(after["_endpoint.grpc"], pre_before.at("_endpoint.grpc"));

  // Exactly one event message reached the subscriber, at the release's revision, with every
  // change; the draft's creation sent none.
  EXPECT_EQ(subscriber.event_revisions(), std::vector<int64_t>{published->revision()});
  // The release carries the draft's message, and the draft is gone.
  v1::GetReleaseRequest release;
  release.set_release_id(published->revision());
  absl::StatusOr<v1::GetReleaseResponse> got = admin_->GetRelease(release);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->release().message(), "acme: integration build 42");
  EXPECT_EQ(got->release().author(), "bob");
  drafts = bob_->ListDrafts(list);
  ASSERT_TRUE(drafts.ok());
  EXPECT_EQ(drafts->drafts_size(), 0);
  // Publishing it again: it is gone.
  EXPECT_EQ(Publish(*bob_, "pre-acme", promoted->draft_id()).status().code(),
            absl::StatusCode::kNotFound);

  // Promoting again changes nothing: no draft, no release.
  promote.set_message("");
  absl::StatusOr<v1::PromoteResponse> again = alice_->Promote(promote);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->changes_size(), 0);
  EXPECT_EQ(again->draft_id(), 0);
  EXPECT_EQ(again->release_id(), 0);
}

TEST_F(ReleaseTest, APublishFindsKeysChangedSinceTheDraftUnlessRebased) {
  Register("pre", "");
  Put("pre", "k", "v0");
  SetReview("pre", true, false);
  absl::StatusOr<v1::DraftResponse> first = CreateDraft(*alice_, "pre", {Change("k", "first")});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<v1::DraftResponse> second =
      CreateDraft(*alice_, "pre", {Change("k", "second"), Change("j", "x")});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(Publish(*bob_, "pre", first->draft().draft_id()).ok());

  // k moved under the second draft: shown as a conflict, and publishing names it.
  v1::GetDraftRequest get;
  get.set_tenant("pre");
  get.set_draft_id(second->draft().draft_id());
  absl::StatusOr<v1::DraftResponse> shown = alice_->GetDraft(get);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(std::vector<std::string>(shown->conflicts().begin(), shown->conflicts().end()),
            std::vector<std::string>{"orders/k"});
  const std::map<std::string, std::string> before = View("pre");
  absl::StatusOr<v1::PublishDraftResponse> refused =
      Publish(*bob_, "pre", second->draft().draft_id());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("key \"k\""), std::string::npos) << refused.status();
  EXPECT_EQ(View("pre"), before) << "a refused publish wrote";

  // Rebased, it applies over the change.
  ASSERT_TRUE(Publish(*bob_, "pre", second->draft().draft_id(), /*rebase=*/true).ok());
  EXPECT_EQ(View("pre")["k"], "second");
  EXPECT_EQ(View("pre")["j"], "x");

  // Discarding writes nothing to the view.
  absl::StatusOr<v1::DraftResponse> third = CreateDraft(*alice_, "pre", {Change("k", "third")});
  ASSERT_TRUE(third.ok());
  v1::DiscardDraftRequest discard;
  discard.set_tenant("pre");
  discard.set_draft_id(third->draft().draft_id());
  ASSERT_TRUE(alice_->DiscardDraft(discard).ok());
  EXPECT_EQ(View("pre")["k"], "second");
  EXPECT_EQ(Publish(*bob_, "pre", third->draft().draft_id()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ReleaseTest, ADraftShowsItsBlastRadiusAndSurvivesARestart) {
  Register("integration", "");
  Put("integration", "k", "v");
  Register("f1", "integration");  // inherits k
  Register("f2", "integration");
  Put("f2", "k", "own");     // overrides k
  Register("f1-sub", "f1");  // inherits k through f1
  // Two instances follow f1's view.
  std::vector<std::unique_ptr<Subscription>> instances;
  for (int i = 0; i < 2; ++i) {
    SubscriptionOptions options;
    options.tenant = "f1";
    options.services = {"orders"};
    options.instance.id = absl::StrCat("f1-", i);
    instances.push_back(Subscription::Start(server_->Channel(), options));
  }
  absl::StatusOr<v1::DraftResponse> draft =
      CreateDraft(*alice_, "integration", {Change("k", "new")}, "raise k");
  ASSERT_TRUE(draft.ok()) << draft.status();
  EXPECT_EQ(std::vector<std::string>(draft->blast_radius().tenants().begin(),
                                     draft->blast_radius().tenants().end()),
            (std::vector<std::string>{"f1", "f1-sub", "integration"}));
  v1::GetDraftRequest get;
  get.set_tenant("integration");
  get.set_draft_id(draft->draft().draft_id());
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::DraftResponse> shown = admin_->GetDraft(get);
    return shown.ok() && shown->blast_radius().instances() == 2;
  }));
  ASSERT_EQ(draft->diff_size(), 1);
  EXPECT_EQ(draft->diff(0).left().value(), "v");
  EXPECT_EQ(draft->diff(0).right().value(), "new");
  instances.clear();

  // Durable: listed after a restart, then published.
  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_TRUE(server_->Restart());
  absl::StatusOr<v1::DraftResponse> reloaded = admin_->GetDraft(get);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->draft().message(), "raise k");
  EXPECT_EQ(reloaded->draft().author(), "alice");
  ASSERT_TRUE(Publish(*bob_, "integration", draft->draft().draft_id()).ok());
  EXPECT_EQ(View("f1-sub")["k"], "new");
  EXPECT_EQ(View("f2")["k"], "own");
}

TEST_F(ReleaseTest, ResetTakesAPerfTenantsHandEditsBackAsOneRelease) {
  Register("integration", "");
  Put("integration", "timeout", "2s");
  // The perf tenant: a child of integration whose parameters testers tune by hand.
  Register("perf", "integration");
  Put("perf", "timeout", "100ms");
  Put("perf", "pool.size", "64");  // its registration's default is 8
  Put("perf", "threads", "32");
  Put("perf", "api.token", "perf-token", /*secret=*/true);
  const std::string password = View("perf")["db.password"];

  v1::ResetRequest reset;
  reset.set_tenant("perf");
  reset.set_dry_run(true);
  absl::StatusOr<v1::ResetResponse> preview = admin_->Reset(reset);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(preview->changes_size(), 3);
  EXPECT_EQ(View("perf")["threads"], "32");

  TestSubscriber subscriber(server_->Channel(), "perf", {"orders"}, std::nullopt);
  ASSERT_TRUE(subscriber.WaitForMessages(1));
  reset.set_dry_run(false);
  absl::StatusOr<v1::ResetResponse> done = admin_->Reset(reset);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_NE(done->release_id(), 0);
  ASSERT_TRUE(subscriber.WaitForRevision(done->release_id()));
  EXPECT_EQ(subscriber.event_revisions(), std::vector<int64_t>{done->release_id()});
  std::map<std::string, std::string> view = View("perf");
  EXPECT_EQ(view["timeout"], "2s");            // integration's again
  EXPECT_EQ(view["pool.size"], "8");           // the definition's default
  EXPECT_EQ(view.count("threads"), 0u);        // a hand-made key is gone
  EXPECT_EQ(view["api.token"], "perf-token");  // secrets stay
  EXPECT_EQ(view["db.password"], password);    // and generated keys
}

}  // namespace
}  // namespace confcenter
