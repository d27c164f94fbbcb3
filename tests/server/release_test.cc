// The release workflow (ReleaseService) end to end against the real confcenterd: the seed's
// pre-release flow (integration tested, promotion previewed, promoted into a reviewed
// pre-release root as a draft, published by a second identity, one event per subscriber),
// draft conflicts, blast radius, durability across a restart, and reset of a perf tenant.
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/core/gray.h"
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

// The seed's gray release: 2 of 10 instances by label, then 30% by percentage (the same
// instances after they reconnect to a restarted server); the first promoted (the instances
// that had it get nothing new), the second aborted; every instance's view checked.
TEST_F(ReleaseTest, AGrayReleaseReachesItsAudienceOnlyAndIsPromotedOrAborted) {
  Register("pre", "");
  Put("pre", "k", "k0");
  const int64_t base = Put("pre", "j", "j0");
  constexpr int kInstances = 10;
  std::vector<std::unique_ptr<Subscription>> instances;
  std::vector<std::unique_ptr<std::atomic<int>>> k_changes;
  auto id_of = [](int i) { return absl::StrCat("orders-", i); };
  const std::set<int> canary = {1, 8};
  for (int i = 0; i < kInstances; ++i) {
    SubscriptionOptions options;
    options.tenant = "pre";
    options.services = {"orders"};
    options.instance.id = id_of(i);
    options.instance.labels = {{"zone", canary.count(i) ? "canary" : "main"}, {"version", "2"}};
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    options.report_interval = absl::ZeroDuration();
    instances.push_back(Subscription::Start(server_->Channel(), options));
    k_changes.push_back(std::make_unique<std::atomic<int>>(0));
    std::atomic<int>* counter = k_changes.back().get();
    instances.back()->OnChange("orders", "k", false,
                               [counter](const ConfigChange&) { counter->fetch_add(1); });
  }
  for (auto& instance : instances) ASSERT_TRUE(instance->WaitForRevision(base, absl::Seconds(20)));
  for (auto& c : k_changes) c->store(0);
  TestSubscriber anonymous(server_->Channel(), "pre", {"orders"}, std::nullopt);
  ASSERT_TRUE(anonymous.WaitForMessages(1));
  // Every instance's view of `key` is `gray` if it is in `audience`, else `released`. An
  // unrelated write first moves every view past what it must show (an instance whose view a
  // revision does not change hears of that revision only with the next progress message).
  int ticks = 0;
  auto check = [&](const std::string& key, const std::set<int>& audience, const std::string& gray,
                   const std::string& released, int64_t gray_id) {
    const int64_t revision = Put("pre", "tick", absl::StrCat(++ticks));
    for (int i = 0; i < kInstances; ++i) {
      SCOPED_TRACE(id_of(i));
      ASSERT_TRUE(instances[i]->WaitForRevision(revision, absl::Seconds(20)));
      std::optional<ConfigValue> value = instances[i]->Get("orders", key);
      ASSERT_TRUE(value.has_value());
      const bool in = audience.count(i) > 0;
      EXPECT_EQ(value->value, in ? gray : released);
      EXPECT_EQ(value->gray_release_id, in ? gray_id : 0);
      EXPECT_EQ(value->source_tenant, "pre");
    }
  };
  auto gray_of = [&]() {
    v1::GetGrayRequest get;
    get.set_tenant("pre");
    absl::StatusOr<v1::GrayResponse> gray = admin_->GetGray(get);
    EXPECT_TRUE(gray.ok()) << gray.status();
    std::set<std::string> ids;
    if (gray.ok()) ids.insert(gray->gray().instances().begin(), gray->gray().instances().end());
    return ids;
  };

  // 1. By label: the two canaries.
  v1::StartGrayRequest start;
  start.set_tenant("pre");
  *start.add_changes() = Change("k", "k1");
  start.mutable_audience()->set_selector("zone=canary, version");
  start.set_message("k1 to the canaries");
  absl::StatusOr<v1::GrayResponse> first = alice_->StartGray(start);
  ASSERT_TRUE(first.ok()) << first.status();
  const int64_t first_id = first->gray().gray_release_id();
  check("k", canary, "k1", "k0", first_id);
  EXPECT_EQ(gray_of(), (std::set<std::string>{"orders-1", "orders-8"}));
  EXPECT_EQ(View("pre")["k"], "k0");  // the tenant's own view is unchanged
  v1::GetTenantRequest tenant;
  tenant.set_tenant("pre");
  EXPECT_EQ(admin_->GetTenant(tenant)->tenant().gray_release_id(), first_id);
  // Every instance applied it (the others' views did not change); anonymous streams are in
  // no audience.
  v1::WaitAppliedRequest wait;
  wait.set_tenant("pre");
  wait.set_revision(first_id);
  wait.mutable_timeout()->set_seconds(20);
  absl::StatusOr<v1::WaitAppliedResponse> applied = admin_->WaitApplied(wait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(applied->all_applied());
  ASSERT_TRUE(anonymous.WaitForRevision(Put("pre", "tick", "a")));
  EXPECT_EQ((anonymous.view()[{"orders", "k"}]), "k0@pre");
  // A second gray release while one is open is refused.
  EXPECT_EQ(alice_->StartGray(start).status().code(), absl::StatusCode::kFailedPrecondition);

  // Promoted: the others get k1, the canaries nothing new.
  v1::EndGrayRequest end;
  end.set_tenant("pre");
  end.set_gray_release_id(first_id);
  absl::StatusOr<v1::EndGrayResponse> promoted = bob_->PromoteGray(end);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  const int64_t moved = Put("pre", "tick", "promoted");  // past the promotion for everyone
  for (int i = 0; i < kInstances; ++i) {
    ASSERT_TRUE(instances[i]->WaitForRevision(moved, absl::Seconds(20)));
    EXPECT_EQ(instances[i]->GetString("orders", "k", ""), "k1") << id_of(i);
    EXPECT_EQ(k_changes[i]->load(), 1) << id_of(i) << " heard k change more than once";
  }
  EXPECT_EQ(View("pre")["k"], "k1");
  ASSERT_TRUE(anonymous.WaitForRevision(promoted->revision()));
  EXPECT_EQ((anonymous.view()[{"orders", "k"}]), "k1@pre");
  EXPECT_EQ(bob_->PromoteGray(end).status().code(), absl::StatusCode::kNotFound);

  // 2. By percentage: 30% of the instances, by their stable bucket.
  std::set<int> share;
  for (int i = 0; i < kInstances; ++i) {
    if (GrayBucket("pre", id_of(i)) < 3000) share.insert(i);
  }
  ASSERT_GE(share.size(), 1u);
  ASSERT_LT(share.size(), static_cast<size_t>(kInstances));
  v1::StartGrayRequest second = start;
  second.clear_changes();
  *second.add_changes() = Change("j", "j1");
  second.mutable_audience()->Clear();
  second.mutable_audience()->set_percentage(30);
  second.mutable_audience()->set_service("orders");
  absl::StatusOr<v1::GrayResponse> started = alice_->StartGray(second);
  ASSERT_TRUE(started.ok()) << started.status();
  const int64_t second_id = started->gray().gray_release_id();
  check("j", share, "j1", "j0", second_id);
  // The same instances after every one reconnects to a restarted server.
  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_TRUE(server_->Restart());
  check("j", share, "j1", "j0", second_id);
  std::set<std::string> expected;
  for (int i : share) expected.insert(id_of(i));
  ASSERT_TRUE(Eventually([&] { return gray_of() == expected; }, absl::Seconds(20)));

  // Aborted: the share gets j0 back, nothing else changes.
  end.set_gray_release_id(second_id);
  absl::StatusOr<v1::EndGrayResponse> aborted = bob_->AbortGray(end);
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  check("j", {}, "", "j0", 0);
  EXPECT_EQ(View("pre")["j"], "j0");
  EXPECT_EQ(admin_->GetTenant(tenant)->tenant().gray_release_id(), 0);
}

TEST_F(ReleaseTest, AGrayTenantStaysHiddenAndGoesWithItsTenant) {
  Register("integration", "");
  Register("f1", "integration");
  v1::StartGrayRequest start;
  start.set_tenant("f1");
  *start.add_changes() = Change("k", "gray");
  start.mutable_audience()->add_instance_ids("pod-1");
  ASSERT_TRUE(admin_->StartGray(start).ok());
  // Not a tenant anyone lists, names or writes.
  absl::StatusOr<v1::ListTenantsResponse> listed = admin_->ListTenants({});
  ASSERT_TRUE(listed.ok());
  for (const v1::Tenant& t : listed->tenants()) {
    EXPECT_EQ(t.name().find('~'), std::string::npos) << t.name();
    if (t.name() == "f1") EXPECT_EQ(t.children_size(), 0);
  }
  v1::ResolveRequest resolve;
  resolve.set_tenant("f1~gray");
  EXPECT_EQ(admin_->Resolve(resolve).status().code(), absl::StatusCode::kInvalidArgument);
  // Deregistering f1 takes its gray release along; a new f1 has none.
  v1::DeregisterRequest remove;
  remove.set_tenant("f1");
  remove.set_all(true);
  ASSERT_TRUE(admin_->Deregister(remove).ok());
  Register("f1", "integration");
  v1::GetGrayRequest get;
  get.set_tenant("f1");
  EXPECT_EQ(admin_->GetGray(get).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(View("f1").count("k"), 0u);
}

// Four eyes hold for whoever changed a draft, not only its author.
TEST_F(ReleaseTest, WhoeverChangedADraftMayNotPublishIt) {
  Register("pre", "");
  SetReview("pre", true, true);
  absl::StatusOr<v1::DraftResponse> draft = CreateDraft(*alice_, "pre", {Change("k", "a")});
  ASSERT_TRUE(draft.ok()) << draft.status();
  v1::UpdateDraftRequest update;
  update.set_tenant("pre");
  update.set_draft_id(draft->draft().draft_id());
  *update.add_set() = Change("k", "b");
  absl::StatusOr<v1::DraftResponse> updated = bob_->UpdateDraft(update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->draft().editors_size(), 1);
  absl::StatusOr<v1::PublishDraftResponse> by_editor =
      Publish(*bob_, "pre", draft->draft().draft_id());
  EXPECT_EQ(by_editor.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(by_editor.status().message().find("written or changed by \"bob\""), std::string::npos)
      << by_editor.status();
  v1::StartGrayRequest gray;
  gray.set_tenant("pre");
  gray.set_draft_id(draft->draft().draft_id());
  gray.mutable_audience()->set_percentage(50);
  EXPECT_EQ(bob_->StartGray(gray).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Publish(*ClientAs("carol"), "pre", draft->draft().draft_id()).ok());
  EXPECT_EQ(View("pre")["k"], "b");
}

// A gray release guards the tenant's keys as a draft does: it starts only from an
// unconflicted draft, promotes only over unchanged keys (unless rebased), gives its draft
// back when aborted, and its release names only the tenant.
TEST_F(ReleaseTest, AGrayReleaseChecksConflictsAndGivesItsDraftBackWhenAborted) {
  Register("pre", "");
  Put("pre", "k", "k0");
  absl::StatusOr<v1::DraftResponse> draft = CreateDraft(*alice_, "pre", {Change("k", "k1")}, "m");
  ASSERT_TRUE(draft.ok()) << draft.status();
  const int64_t id = draft->draft().draft_id();
  v1::StartGrayRequest start;
  start.set_tenant("pre");
  start.set_draft_id(id);
  start.mutable_audience()->set_selector("zone=canary");
  // k moved after the draft was made: the gray release does not start.
  Put("pre", "k", "k0b");
  absl::StatusOr<v1::GrayResponse> refused = bob_->StartGray(start);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(refused.status().message(), "draft_id:")) << refused.status();
  // Brought up to date, it starts; aborted, the draft is back as it was.
  v1::UpdateDraftRequest update;
  update.set_tenant("pre");
  update.set_draft_id(id);
  *update.add_set() = Change("k", "k1");
  ASSERT_TRUE(alice_->UpdateDraft(update).ok());
  ASSERT_TRUE(bob_->StartGray(start).ok());
  v1::ListDraftsRequest list;
  list.set_tenant("pre");
  EXPECT_EQ(admin_->ListDrafts(list)->drafts_size(), 0);
  v1::EndGrayRequest end;
  end.set_tenant("pre");
  ASSERT_TRUE(bob_->AbortGray(end).ok());
  absl::StatusOr<v1::ListDraftsResponse> drafts = admin_->ListDrafts(list);
  ASSERT_TRUE(drafts.ok());
  ASSERT_EQ(drafts->drafts_size(), 1);
  EXPECT_EQ(drafts->drafts(0).draft_id(), id);
  EXPECT_EQ(drafts->drafts(0).author(), "alice");
  EXPECT_EQ(drafts->drafts(0).message(), "m");

  // Started again; k moves meanwhile: promotion is refused naming it, then rebased.
  ASSERT_TRUE(bob_->StartGray(start).ok());
  Put("pre", "k", "k0c");
  absl::StatusOr<v1::EndGrayResponse> conflict = bob_->PromoteGray(end);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(conflict.status().message().find("orders/k"), std::string::npos) << conflict.status();
  EXPECT_EQ(View("pre")["k"], "k0c");
  end.set_rebase(true);
  absl::StatusOr<v1::EndGrayResponse> promoted = bob_->PromoteGray(end);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(View("pre")["k"], "k1");
  v1::GetReleaseRequest release;
  release.set_release_id(promoted->revision());
  absl::StatusOr<v1::GetReleaseResponse> got = admin_->GetRelease(release);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(
      std::vector<std::string>(got->release().tenants().begin(), got->release().tenants().end()),
      std::vector<std::string>{"pre"});
  EXPECT_EQ(got->release().change_count(), 1);
  EXPECT_EQ(got->release().message(), "m");
}

// An instance that resumes from before a gray release started (a reconnect) gets the gray
// values replayed at the revision that started it, and nothing at its promotion.
TEST_F(ReleaseTest, AResumeReplaysAGrayReleaseForItsAudience) {
  Register("pre", "");
  const int64_t before = Put("pre", "k", "k0");
  v1::StartGrayRequest start;
  start.set_tenant("pre");
  *start.add_changes() = Change("k", "k1");
  start.mutable_audience()->add_instance_ids("pod-1");
  absl::StatusOr<v1::GrayResponse> gray = admin_->StartGray(start);
  ASSERT_TRUE(gray.ok()) << gray.status();
  v1::EndGrayRequest end;
  end.set_tenant("pre");
  absl::StatusOr<v1::EndGrayResponse> promoted = admin_->PromoteGray(end);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  const int64_t after = Put("pre", "j", "x");
  // The events a stream of `instance` resuming from `before` replays, up to `after`.
  auto replay = [&](const std::string& instance) {
    auto stub = v1::WatchService::NewStub(server_->Channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::SubscribeRequest request;
    request.set_tenant("pre");
    request.add_services("orders");
    request.set_start_revision(before);
    request.mutable_instance()->set_instance_id(instance);
    request.mutable_instance()->set_service("orders");
    std::vector<v1::SubscribeResponse> events;
    std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
        stub->Subscribe(&ctx, request);
    v1::SubscribeResponse message;
    while (reader->Read(&message)) {
      if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) events.push_back(message);
      if (message.revision() >= after) break;
    }
    ctx.TryCancel();
    reader->Finish();
    return events;
  };
  std::vector<v1::SubscribeResponse> in = replay("pod-1");
  ASSERT_EQ(in.size(), 2u);  // k at the gray start, j; nothing at the promotion
  EXPECT_EQ(in[0].revision(), gray->gray().gray_release_id());
  EXPECT_EQ(in[0].events(0).value(), "k1");
  EXPECT_EQ(in[0].events(0).gray_release_id(), gray->gray().gray_release_id());
  EXPECT_EQ(in[0].events(0).source_tenant(), "pre");
  EXPECT_EQ(in[1].revision(), after);
  std::vector<v1::SubscribeResponse> out = replay("pod-2");
  ASSERT_EQ(out.size(), 2u);  // k at the promotion, j
  EXPECT_EQ(out[0].revision(), promoted->revision());
  EXPECT_EQ(out[0].events(0).value(), "k1");
  EXPECT_EQ(out[0].events(0).gray_release_id(), 0);
}

}  // namespace
}  // namespace confcenter
