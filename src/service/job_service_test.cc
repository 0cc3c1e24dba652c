// JobService without HTTP, on a real SQLite store in a temporary directory: the order a
// submission is checked in and the field each refusal names, that those checks need no store,
// whose jobs a key reaches, idempotency keys, and what cancel and retry may do in which state.
#include "service/job_service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include "common/crypto.h"
#include "job/sealed.h"
#include "testing/media_fixtures.h"

namespace reel::service {
namespace {

using nlohmann::json;
using store::JobState;

// Records what the service asks of the local workers.
class RecordingRunner : public LocalRunner {
 public:
  void Wake() override { ++wakes; }
  void Cancel(const std::string& job_id) override { canceled.push_back(job_id); }
  std::vector<std::string> RunningJobs() override { return {}; }
  int wakes = 0;
  std::vector<std::string> canceled;
};

class JobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "media");
    testing::WriteFile(dir_ / "media/in.mp4", "not checked here: only where it is");
    Result<std::unique_ptr<store::JobStore>> s = store::OpenSqliteStore(dir_ / "jobs.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    options_.allow_paths = {dir_ / "media"};
    options_.secret_key = std::string(32, 'k');
    options_.max_attempts = 2;
    options_.max_retries = 2;
    service_ = std::make_unique<JobService>(options_, store_.get(), &runner_);
    alice_ = Key("alice", false);
    bob_ = Key("bob", false);
    admin_ = Key("admin", true);
  }

  Caller Key(const std::string& name, bool admin, const json& storage = nullptr) {
    std::string key = "key-of-" + name;
    EXPECT_TRUE(store_->CreateKey(name, Sha256Hex(key), admin, "whsec", storage).ok());
    Result<Caller> c = service_->Authenticate(key);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : Caller{};
  }

  std::string Body(const json& extra = json::object()) {
    json body = {{"source", dir_ / "media/in.mp4"},
                 {"outputs", {{{"kind", "mp4"}, {"destination", dir_ / "media/out.mp4"}}}}};
    body.update(extra);
    return body.dump();
  }

  // What Prepare refuses `body` with: "code field: message".
  std::string Refusal(const std::string& body, const std::string& idempotency_key = "",
                      const Caller* caller = nullptr) {
    Invalid invalid;
    Result<PreparedJob> p =
        service_->Prepare(caller ? *caller : alice_, body, idempotency_key, &invalid);
    if (p.ok()) return "accepted";
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << p.status().ToString();
    return invalid.code + " " + invalid.field + ": " + p.status().message();
  }

  store::Job Submit(const Caller& caller, const std::string& body = "",
                    const std::string& idempotency_key = "") {
    Invalid invalid;
    Result<PreparedJob> p =
        service_->Prepare(caller, body.empty() ? Body() : body, idempotency_key, &invalid);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return {};
    Result<Submitted> s = service_->Submit(caller, std::move(*p));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? s->job : store::Job{};
  }

  // Leases the next job and ends its attempt with `end`.
  void RunAttempt(store::AttemptEnd end) {
    Result<std::optional<store::Job>> leased = store_->Lease("w1", "host1", 30);
    ASSERT_TRUE(leased.ok() && leased->has_value());
    ASSERT_TRUE(
        store_->FinishAttempt((**leased).id, "w1", end, "crashed", "it broke", nullptr).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<store::JobStore> store_;
  JobServiceOptions options_;
  RecordingRunner runner_;
  std::unique_ptr<JobService> service_;
  Caller alice_, bob_, admin_;
};

TEST_F(JobServiceTest, KeysAreCheckedByHashAndRevokedOnesRefused) {
  EXPECT_EQ(service_->Authenticate("").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Authenticate("key-of-nobody").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(service_->Authenticate("key-of-admin")->key.admin);
  ASSERT_TRUE(store_->RevokeKey("bob").ok());
  EXPECT_EQ(service_->Authenticate("key-of-bob").status().code(), StatusCode::kNotFound);
}

TEST_F(JobServiceTest, ASubmissionIsCheckedInOrderAndEachRefusalNamesItsField) {
  EXPECT_EQ(Refusal("{").substr(0, 14), "invalid_json :");
  EXPECT_EQ(Refusal(Body({{"outputs", json::array()}})).substr(0, 21), "invalid_spec outputs:");
  std::string outside = Refusal(Body({{"source", "/etc/passwd"}}));
  EXPECT_EQ(outside.substr(0, 20), "invalid_path source:") << outside;
  std::string over =
      Refusal(Body({{"outputs", {{{"kind", "mp4"}, {"destination", dir_ / "media/in.mp4"}}}}}));
  EXPECT_EQ(over.substr(0, 35), "invalid_path outputs[0].destination") << over;
  EXPECT_EQ(Refusal(Body({{"webhook", {{"url", "http://127.0.0.1:9/hook"}}}})).substr(0, 28),
            "invalid_webhook webhook.url:");
  EXPECT_EQ(Refusal(Body(), std::string(256, 'i')).substr(0, 15), "invalid_header ");
  // Several faults: the earliest check's is the one reported.
  std::string both =
      Refusal(Body({{"source", "/etc/passwd"}, {"webhook", {{"url", "http://127.0.0.1:9/hook"}}}}));
  EXPECT_EQ(both.substr(0, 20), "invalid_path source:") << both;
  EXPECT_EQ(Refusal(Body(), std::string(255, 'i')), "accepted");
}

TEST_F(JobServiceTest, AKeyWithAStorageScopeReachesOnlyItsOwnFoldersAndBuckets) {
  namespace fs = std::filesystem;
  for (const char* d : {"media/acme", "media/bob"}) fs::create_directories(dir_ / d);
  testing::WriteFile(dir_ / "media/acme/in.mp4", "acme's");
  testing::WriteFile(dir_ / "media/bob/in.mp4", "bob's");
  storage::S3Profile local;
  local.endpoint = "http://127.0.0.1:9";  // checked, never reached
  options_.s3_profiles = {{"default", local}};
  options_.address_policy = *net::AddressPolicy::Parse({"127.0.0.1"});
  service_ = std::make_unique<JobService>(options_, store_.get(), &runner_);
  const json scope = {{"paths", {fs::canonical(dir_ / "media/acme").string()}},
                      {"buckets", {"default@media-acme"}}};
  Caller acme = Key("acme", false, scope);
  auto body = [&](const json& source, const json& destination) {
    return json{{"source", source}, {"outputs", {{{"kind", "mp4"}, {"destination", destination}}}}}
        .dump();
  };
  std::string bobs = Refusal(body(dir_ / "media/bob/in.mp4", "out.mp4"), "", &acme);
  EXPECT_EQ(bobs.substr(0, 20), "invalid_path source:") << bobs;
  std::string into_bobs = Refusal(body("in.mp4", dir_ / "media/bob/out.mp4"), "", &acme);
  EXPECT_EQ(into_bobs.substr(0, 35), "invalid_path outputs[0].destination") << into_bobs;
  std::string bucket = Refusal(body("s3://media-bob/in.mp4", "out.mp4"), "", &acme);
  EXPECT_EQ(bucket, "invalid_path source: s3://media-bob is not among this API key's buckets");
  // The same bodies from a team's key: the server's whole storage, as before.
  EXPECT_EQ(Refusal(body(dir_ / "media/bob/in.mp4", dir_ / "media/acme/out.mp4")), "accepted");

  // Relative paths are the key's own; the job keeps the scope it was checked under.
  store::Job job = Submit(acme, body("in.mp4", "s3://media-acme/out.mp4"));
  EXPECT_EQ(job.spec["source"], fs::canonical(dir_ / "media/acme/in.mp4").string());
  EXPECT_EQ(job.storage, json({{"paths", scope["paths"]}, {"buckets", scope["buckets"]}}));
  EXPECT_TRUE(Submit(alice_).storage.is_null());

  // A key that reaches none of the server's storage says so.
  Caller isolated = Key("isolated", false, json::object());
  EXPECT_EQ(Refusal(body("in.mp4", "out.mp4"), "", &isolated),
            "invalid_path source: local paths are outside this API key's storage");
  // A scope that cannot be read refuses everything, and not as the tenant's mistake.
  Caller damaged = Key("damaged", false, {{"paths", "/"}});
  Invalid invalid;
  Result<PreparedJob> p = service_->Prepare(damaged, body("in.mp4", "out.mp4"), "", &invalid);
  EXPECT_EQ(p.status().code(), StatusCode::kFailedPrecondition) << p.status().ToString();
}

TEST_F(JobServiceTest, ATenantsPriorityIsBoundedByTheServerAndAnAdminsIsNot) {
  options_.max_priority = 0;
  service_ = std::make_unique<JobService>(options_, store_.get(), &runner_);
  EXPECT_EQ(Refusal(Body({{"priority", 1}})),
            "invalid_spec priority: at most 0 for this key (the server's --max-priority; admin "
            "keys have none)");
  EXPECT_EQ(Refusal(Body({{"priority", 0}})), "accepted");
  EXPECT_EQ(Refusal(Body({{"priority", -5}})), "accepted");
  EXPECT_EQ(Refusal(Body({{"priority", 100}}), "", &admin_), "accepted");
}

TEST_F(JobServiceTest, PreparingASubmissionNeedsNoStore) {
  // What the API runs before the store gate: a service with no store at all can do it.
  JobService no_store(options_, nullptr, nullptr);
  Invalid invalid;
  json credentials = {{"s3", {{"access_key", "AK"}, {"secret_key", "secret-key-not-stored"}}}};
  Result<PreparedJob> p = no_store.Prepare(
      alice_, Body({{"credentials", credentials}, {"priority", 7}, {"tags", {"gpu"}}}), "idem-1",
      &invalid);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->priority, 7);
  EXPECT_EQ(p->tags, std::vector<std::string>{"gpu"});
  EXPECT_EQ(p->idempotency_key, "idem-1");
  EXPECT_EQ(p->request_hash.size(), 64u);
  // Local paths are stored resolved, and the credentials only sealed.
  EXPECT_EQ(p->stored["source"], std::filesystem::canonical(dir_ / "media/in.mp4").string());
  EXPECT_EQ(p->stored.dump().find("secret-key-not-stored"), std::string::npos) << p->stored.dump();
  Result<json> opened = job::OpenSpec(p->stored, options_.secret_key);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ((*opened)["credentials"], credentials);
  EXPECT_FALSE(job::OpenSpec(p->stored, std::string(32, 'x')).ok()) << "another server's key";
}

TEST_F(JobServiceTest, APreparationThatMustNotWaitStopsBeforeTheNetworkOnly) {
  // What the API checks on its store pool: local paths and data: URLs are checked as usual...
  auto prepare = [&](const std::string& body, bool* needs_network) {
    Invalid invalid;
    Result<PreparedJob> p = service_->Prepare(alice_, body, "", &invalid, needs_network);
    return std::pair{p, invalid};
  };
  bool needs_network = true;
  auto [local, local_invalid] = prepare(Body(), &needs_network);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_FALSE(needs_network);
  EXPECT_EQ(local->stored["source"], std::filesystem::canonical(dir_ / "media/in.mp4").string());
  needs_network = true;
  auto [inline_source, inline_invalid] =
      prepare(Body({{"source", {{"inline", "AAAA"}}}}), &needs_network);
  EXPECT_TRUE(inline_source.ok()) << inline_source.status().ToString();
  EXPECT_FALSE(needs_network);
  // ...and refused for good, naming the field, when they are wrong.
  auto [outside, outside_invalid] = prepare(Body({{"source", "/etc/passwd"}}), &needs_network);
  EXPECT_FALSE(needs_network);
  EXPECT_EQ(outside.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(outside_invalid.field, "source");
  // A remote source or destination, or a webhook, would wait on DNS: it stops there, refusing
  // nothing: the caller checks it again where waiting is allowed.
  for (const json& extra :
       {json{{"source", "http://reel-test.invalid/in.mp4"}},
        json{{"outputs", {{{"kind", "mp4"}, {"destination", "s3://bucket/out.mp4"}}}}},
        json{{"webhook", {{"url", "http://reel-test.invalid/hook"}}}}}) {
    needs_network = false;
    auto [remote, remote_invalid] = prepare(Body(extra), &needs_network);
    EXPECT_TRUE(needs_network) << extra.dump();
    EXPECT_EQ(remote.status().code(), StatusCode::kUnavailable) << extra.dump();
    EXPECT_TRUE(remote_invalid.code.empty()) << remote_invalid.code;
  }
}

TEST_F(JobServiceTest, AKeyReachesOnlyItsOwnJobsAndAnAdminKeyEveryJob) {
  store::Job job = Submit(alice_);
  EXPECT_EQ(runner_.wakes, 1);
  EXPECT_EQ(job.owner, alice_.key.id);
  EXPECT_TRUE(service_->Get(alice_, job.id).ok());
  EXPECT_TRUE(service_->Get(admin_, job.id).ok());
  // To another key the job does not exist, whatever it asks.
  EXPECT_EQ(service_->Get(bob_, job.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Cancel(bob_, job.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Retry(bob_, job.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Delete(bob_, job.id).code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Webhooks(bob_, job.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Get(alice_, "job_nope").status().message(), "no job job_nope");
  EXPECT_EQ(service_->Get(alice_, job.id)->state, JobState::kQueued) << "bob changed nothing";
  Invalid invalid;
  EXPECT_EQ(service_->List(bob_, {}, &invalid)->jobs.size(), 0u);
  EXPECT_EQ(service_->List(alice_, {}, &invalid)->jobs.size(), 1u);
  EXPECT_EQ(service_->List(admin_, {}, &invalid)->jobs.size(), 1u);
  EXPECT_EQ((*service_->Counts(bob_))["queued"], 0);
  EXPECT_EQ((*service_->Counts(alice_))["queued"], 1);
}

TEST_F(JobServiceTest, ListQueriesAreBoundedAndRefusalsNameTheParameter) {
  auto refused = [&](ListRequest request) {
    Invalid invalid;
    Result<store::ListPage> page = service_->List(alice_, request, &invalid);
    return page.ok() ? std::string("accepted") : invalid.field;
  };
  EXPECT_EQ(refused({"done", {}, {}}), "state");
  for (const char* limit : {"0", "201", "", "5x"}) EXPECT_EQ(refused({{}, limit, {}}), "limit");
  EXPECT_EQ(refused({{}, {}, "abc"}), "cursor");
  EXPECT_EQ(refused({"queued", "200", "12"}), "accepted");
  for (int i = 0; i < 3; ++i) Submit(alice_);
  Invalid invalid;
  Result<store::ListPage> page = service_->List(alice_, {{}, "2", {}}, &invalid);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(service_->List(alice_, {{}, "2", page->next_cursor}, &invalid)->jobs.size(), 1u);
}

TEST_F(JobServiceTest, AnIdempotencyKeyGivesBackTheFirstJobForTheSameBodyOnly) {
  store::Job first = Submit(alice_, Body(), "order-1");
  Invalid invalid;
  Result<Submitted> again =
      service_->Submit(alice_, *service_->Prepare(alice_, Body(), "order-1", &invalid));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->existed);
  EXPECT_EQ(again->job.id, first.id);
  EXPECT_EQ(runner_.wakes, 1) << "nothing new to run";
  Result<Submitted> other = service_->Submit(
      alice_, *service_->Prepare(alice_, Body({{"priority", 3}}), "order-1", &invalid));
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition) << "409: another body";
  Invalid none;
  EXPECT_EQ(service_->List(alice_, {}, &none)->jobs.size(), 1u);
}

TEST_F(JobServiceTest, CancelStopsARunningJobHereAndRefusesAFinishedOne) {
  store::Job queued = Submit(alice_);
  Result<store::Job> canceled = service_->Cancel(alice_, queued.id);
  ASSERT_TRUE(canceled.ok());
  EXPECT_EQ(canceled->state, JobState::kCanceled);
  EXPECT_TRUE(runner_.canceled.empty()) << "a queued job has no attempt to stop";
  EXPECT_EQ(service_->Cancel(alice_, queued.id).status().code(), StatusCode::kFailedPrecondition);

  store::Job running = Submit(alice_);
  ASSERT_TRUE(store_->Lease("w1", "host1", 30).ok());
  Result<store::Job> marked = service_->Cancel(alice_, running.id);
  ASSERT_TRUE(marked.ok());
  EXPECT_EQ(marked->state, JobState::kRunning);
  EXPECT_TRUE(marked->cancel_requested);
  EXPECT_EQ(runner_.canceled, std::vector<std::string>{running.id});
  // Deleting waits for the end.
  EXPECT_EQ(service_->Delete(alice_, running.id).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(service_->Delete(alice_, queued.id).ok());
  EXPECT_EQ(service_->Get(alice_, queued.id).status().code(), StatusCode::kNotFound);
}

TEST_F(JobServiceTest, RetriesNumberAttemptsOnAndAreCapped) {
  store::Job job = Submit(alice_);
  EXPECT_EQ(service_->Retry(alice_, job.id).status().code(), StatusCode::kFailedPrecondition)
      << "a queued job";
  // Two attempts (--max-attempts 2), then the job fails.
  RunAttempt(store::AttemptEnd::kFailedRetryable);
  RunAttempt(store::AttemptEnd::kFailedRetryable);
  ASSERT_EQ(service_->Get(alice_, job.id)->state, JobState::kFailed);
  for (int retry = 1; retry <= 2; ++retry) {
    int wakes = runner_.wakes;
    Result<store::Job> r = service_->Retry(alice_, job.id);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->state, JobState::kQueued);
    EXPECT_EQ(r->retries, retry);
    EXPECT_EQ(r->attempts, 2 * retry) << "attempts are numbered on, not reset";
    EXPECT_EQ(r->max_attempts, 2 * retry + 2);
    EXPECT_EQ(runner_.wakes, wakes + 1);
    RunAttempt(store::AttemptEnd::kFailedRetryable);
    RunAttempt(store::AttemptEnd::kFailedRetryable);
  }
  store::Job done = *service_->Get(alice_, job.id);
  EXPECT_EQ(done.state, JobState::kFailed);
  ASSERT_EQ(done.attempt_log.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(done.attempt_log[i].number, i + 1);
  // --max-retries 2: a third retry is refused with the reason.
  Result<store::Job> refused = service_->Retry(alice_, job.id);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--max-retries 2"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(service_->Get(alice_, job.id)->state, JobState::kFailed);
}

}  // namespace
}  // namespace reel::service
