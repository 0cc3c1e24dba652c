// Behaviour of the queue, written against the JobStore interface so that the store runs the
// same tests on both drivers, SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "store/job_store.h"
#include "store/migrations.h"
#include "store/sql_job_store.h"
#include "store/store_test_support.h"
#include "testing/media_fixtures.h"
#include "testing/postgres_server.h"

namespace reel::store {
namespace {

using nlohmann::json;

// A real driver that, once armed, fails every statement containing `fail_on`: faults are
// injected by wrapping the driver the store runs on, not by mocking it.
class FailingDriver : public SqlDriver {
 public:
  FailingDriver(std::unique_ptr<SqlDriver> real, const std::string* fail_on)
      : real_(std::move(real)), fail_on_(fail_on) {}
  SqlDialect dialect() const override { return real_->dialect(); }
  Result<SqlRows> Exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    if (!fail_on_->empty() && sql.find(*fail_on_) != std::string::npos)
      return Unavailable("injected fault");
    return real_->Exec(sql, params);
  }
  Status ExecScript(const std::string& sql) override { return real_->ExecScript(sql); }
  const char* BeginSql() const override { return real_->BeginSql(); }
  const char* ForUpdate() const override { return real_->ForUpdate(); }
  const char* SkipLocked() const override { return real_->SkipLocked(); }
  std::string TagsWithin(const std::string& c) const override { return real_->TagsWithin(c); }
  std::string JsonAppend(const std::string& c) const override { return real_->JsonAppend(c); }
  Status LockMigrations() override { return real_->LockMigrations(); }
  void UnlockMigrations() override { real_->UnlockMigrations(); }
  Status NotifyWork() override { return real_->NotifyWork(); }

 private:
  std::unique_ptr<SqlDriver> real_;
  const std::string* fail_on_;
};

TEST_P(StoreTest, CreateGetAndPersist) {
  Job j = Create();
  EXPECT_EQ(j.state, JobState::kQueued);
  EXPECT_EQ(j.id.rfind("job_", 0), 0u);
  EXPECT_GT(j.created_at, 0);
  store_.reset();
  Result<std::unique_ptr<JobStore>> reopened = OpenStore(location_);
  ASSERT_TRUE(reopened.ok());
  Result<Job> again = (*reopened)->GetJob(j.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->spec, j.spec);
  EXPECT_EQ((*reopened)->GetJob("job_nope").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreTest, LeaseTakesTheOldestAndRecordsTheAttempt) {
  Job first = Create(), second = Create();
  Job leased = Lease("w1");
  EXPECT_EQ(leased.id, first.id);
  EXPECT_EQ(leased.state, JobState::kRunning);
  EXPECT_EQ(leased.attempts, 1);
  ASSERT_EQ(leased.attempt_log.size(), 1u);
  EXPECT_EQ(leased.attempt_log[0].worker_id, "w1");
  EXPECT_EQ(leased.attempt_log[0].host, "host1");
  EXPECT_EQ(Lease("w2").id, second.id);
  Result<std::optional<Job>> none = store_->Lease("w3", "host", 30);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_P(StoreTest, HigherPriorityFirstThenFifo) {
  bool existed = false;
  auto create = [&](int priority) {
    return store_->CreateJob({"k", json::object(), 3, "", "", priority, {}}, &existed)->id;
  };
  std::string low = create(-5), normal1 = create(0), urgent = create(10), normal2 = create(0);
  EXPECT_EQ(Lease("w").id, urgent);
  EXPECT_EQ(Lease("w").id, normal1);
  EXPECT_EQ(Lease("w").id, normal2);
  EXPECT_EQ(Lease("w").id, low);
  EXPECT_EQ(store_->GetJob(urgent)->priority, 10);
}

TEST_P(StoreTest, TaggedJobsGoOnlyToWorkersWithEveryTag) {
  bool existed = false;
  auto create = [&](std::vector<std::string> tags) {
    return store_->CreateJob({"k", json::object(), 3, "", "", 0, tags}, &existed)->id;
  };
  std::string gpu = create({"gpu"}), gpu_eu = create({"gpu", "eu"}), any = create({});
  auto lease = [&](std::vector<std::string> tags) -> std::string {
    Result<std::optional<Job>> j = store_->Lease("w", "h", 30, tags);
    return j.ok() && j->has_value() ? (*j)->id : "";
  };
  EXPECT_EQ(lease({}), any) << "an untagged worker takes untagged jobs only";
  EXPECT_EQ(lease({}), "");
  EXPECT_EQ(lease({"eu"}), "");
  EXPECT_EQ(lease({"gpu"}), gpu);
  EXPECT_EQ(lease({"gpu"}), "") << "gpu+eu needs both";
  EXPECT_EQ(lease({"eu", "gpu", "big"}), gpu_eu);
}

TEST_P(StoreTest, RenewOnlyByTheHolder) {
  Job j = Create();
  Lease("w1");
  bool cancel = true;
  EXPECT_TRUE(store_->Renew(j.id, "w1", 30, &cancel).ok());
  EXPECT_FALSE(cancel);
  EXPECT_EQ(store_->Renew(j.id, "w2", 30, &cancel).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  EXPECT_TRUE(store_->Renew(j.id, "w1", 30, &cancel).ok());
  EXPECT_TRUE(cancel) << "a running job's cancel reaches its worker through the lease";
}

TEST_P(StoreTest, SuccessRecordsResultAndProgress) {
  Job j = Create();
  Lease("w1");
  ASSERT_TRUE(store_->SaveProgress(j.id, "w1", {{"fraction", 0.5}}).ok());
  EXPECT_EQ(store_->GetJob(j.id)->progress["fraction"], 0.5);
  Result<Job> done = store_->FinishAttempt(j.id, "w1", AttemptEnd::kSucceeded, "succeeded", "",
                                           {{"outputs", json::array()}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, JobState::kSucceeded);
  EXPECT_EQ(done->progress["fraction"], 1.0);
  EXPECT_TRUE(done->result.contains("outputs"));
  EXPECT_GT(done->finished_at, 0);
  EXPECT_EQ(done->attempt_log[0].outcome, "succeeded");
  EXPECT_EQ(
      store_->FinishAttempt(j.id, "w1", AttemptEnd::kSucceeded, "", "", nullptr).status().code(),
      StatusCode::kNotFound)
      << "results are written only under a held lease";
}

TEST_P(StoreTest, RetryableFailuresRequeueUntilTheCap) {
  Job j = Create("key_a", 2);
  Lease("w1");
  Result<Job> once = store_->FinishAttempt(j.id, "w1", AttemptEnd::kFailedRetryable, "crashed",
                                           "worker crashed", nullptr);
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->state, JobState::kQueued);
  EXPECT_EQ(once->error, "worker crashed");
  Lease("w2");
  Result<Job> twice = store_->FinishAttempt(j.id, "w2", AttemptEnd::kFailedRetryable, "crashed",
                                            "worker crashed again", nullptr);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->state, JobState::kFailed);
  EXPECT_NE(twice->error.find("gave up after 2 attempts"), std::string::npos) << twice->error;
  EXPECT_EQ(twice->attempt_log.size(), 2u);
}

TEST_P(StoreTest, PermanentFailureDoesNotRetry) {
  Job j = Create();
  Lease();
  Result<Job> r =
      store_->FinishAttempt(j.id, "w1", AttemptEnd::kFailedPermanently, "failed", "bad", nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kFailed);
  EXPECT_EQ(r->attempts, 1);
}

TEST_P(StoreTest, ReleasedAttemptIsNotCounted) {
  Job j = Create("key_a", 1);
  Lease();
  Result<Job> r = store_->FinishAttempt(j.id, "w1", AttemptEnd::kReleased, "released",
                                        "worker shutting down", nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kQueued);
  EXPECT_EQ(r->attempts, 0);
  EXPECT_EQ(Lease("w2").attempts, 1);
}

TEST_P(StoreTest, ExpiredLeasesGoBackToTheQueueThenFail) {
  Job j = Create("key_a", 2);
  Lease("w1", 0.05);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Result<std::vector<std::string>> expired = store_->ExpireLeases();
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, std::vector<std::string>{j.id});
  Job again = *store_->GetJob(j.id);
  EXPECT_EQ(again.state, JobState::kQueued);
  EXPECT_EQ(again.attempt_log[0].outcome, "lease_expired");
  bool cancel = false;
  EXPECT_FALSE(store_->Renew(j.id, "w1", 30, &cancel).ok()) << "the dead worker lost the lease";
  Lease("w2", 0.05);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(store_->ExpireLeases().ok());
  EXPECT_EQ(store_->GetJob(j.id)->state, JobState::kFailed);
}

TEST_P(StoreTest, ExpiredLeaseOfTheLastAttemptSaysItGaveUp) {
  Job j = Create("key_a", 1);
  Lease("w1", 0.05);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(store_->ExpireLeases().ok());
  Job failed = *store_->GetJob(j.id);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_NE(failed.error.find("lease expired"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("gave up after 1 attempts"), std::string::npos) << failed.error;
}

TEST_P(StoreTest, CancelIsOneTransactionWithItsWebhook) {
  bool existed = false;
  json spec = {{"webhook", {{"url", "http://hooks.example/x"}}}};
  Job j = *store_->CreateJob({"key_a", spec, 3, "", "", 0, {}}, &existed);
  RawConnection raw(location_);
  // The webhook's INSERT fails after the state UPDATE ran: neither may land.
  ASSERT_EQ(raw.Exec(raw.postgres()
                         ? "CREATE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN "
                           "RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql; "
                           "CREATE TRIGGER fail_webhooks BEFORE INSERT ON webhooks FOR EACH ROW "
                           "EXECUTE FUNCTION fail_insert()"
                         : "CREATE TRIGGER fail_webhooks BEFORE INSERT ON webhooks BEGIN "
                           "SELECT RAISE(ABORT, 'injected fault'); END"),
            "");
  EXPECT_FALSE(store_->RequestCancel(j.id).ok());
  EXPECT_EQ(store_->GetJob(j.id)->state, JobState::kQueued) << "the state change was kept alone";
  EXPECT_TRUE(store_->ListWebhooks(j.id)->empty());
  ASSERT_EQ(
      raw.Exec("DROP TRIGGER fail_webhooks" + std::string(raw.postgres() ? " ON webhooks" : "")),
      "");
  EXPECT_EQ(store_->RequestCancel(j.id)->state, JobState::kCanceled);
  EXPECT_EQ(store_->ListWebhooks(j.id)->size(), 1u);
}

// Every state change is one transaction with the writes that go with it: when the webhook row
// cannot be written, the cancel, the finished attempt and the expired lease are not kept either.
TEST_P(StoreTest, AFailedWriteLeavesTheJobAsItWas) {
  std::string fail_on;
  Result<std::unique_ptr<SqlDriver>> driver =
      GetParam() == "sqlite" ? OpenSqliteDriver(location_) : OpenPostgresDriver(location_);
  ASSERT_TRUE(driver.ok()) << driver.status().ToString();
  Result<std::unique_ptr<JobStore>> faulty =
      OpenSqlJobStore(std::make_unique<FailingDriver>(std::move(driver).value(), &fail_on));
  ASSERT_TRUE(faulty.ok()) << faulty.status().ToString();
  JobStore& store = **faulty;
  store.SetWebhookComposer(ComposeForTest);
  bool existed = false;
  json spec = {{"webhook", {{"url", "http://hooks.example/x"}}}};
  Job running = *store.CreateJob({"key_a", spec, 1, "", "", 0, {}}, &existed);
  Job queued = *store.CreateJob({"key_a", spec, 1, "", "", 0, {}}, &existed);
  ASSERT_TRUE(store.Lease("w1", "h", 0.05).ok());
  fail_on = "INSERT INTO webhooks";
  EXPECT_FALSE(store.RequestCancel(queued.id).ok());
  EXPECT_EQ(store.GetJob(queued.id)->state, JobState::kQueued);
  EXPECT_FALSE(store
                   .FinishAttempt(running.id, "w1", AttemptEnd::kFailedPermanently, "failed",
                                  "bad input", nullptr)
                   .ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(store.ExpireLeases().ok());
  Job after = *store.GetJob(running.id);
  EXPECT_EQ(after.state, JobState::kRunning);
  EXPECT_EQ(after.lease_owner, "w1");
  EXPECT_EQ(after.attempt_log.at(0).outcome, "running");
  EXPECT_EQ(store.ListWebhooks(running.id)->size(), 1u) << "only the lease's";
  fail_on.clear();
  Result<std::vector<std::string>> expired = store.ExpireLeases();
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(store.GetJob(running.id)->state, JobState::kFailed);
  EXPECT_EQ(store.ListWebhooks(running.id)->back().event, "failed");
}

TEST_P(StoreTest, AWorkerThatLostItsLeaseCannotFinishTheAttempt) {
  Job j = Create();
  Lease("w1");
  // Another node takes the lease over (it expired and was re-leased) while w1 is finishing: w1's
  // check must see the takeover, not the state from before it.
  Result<Job> finished = Status::Ok();
  WhileAnotherWriterCommits("UPDATE jobs SET lease_owner = 'w2' WHERE id = '" + j.id + "'", [&] {
    finished = store_->FinishAttempt(j.id, "w1", AttemptEnd::kSucceeded, "succeeded", "",
                                     {{"outputs", json::array()}});
  });
  EXPECT_EQ(finished.status().code(), StatusCode::kNotFound);
  Job after = *store_->GetJob(j.id);
  EXPECT_EQ(after.state, JobState::kRunning);
  EXPECT_EQ(after.lease_owner, "w2");
}

TEST_P(StoreTest, RetryRefusesAJobThatIsNoLongerFinished) {
  Job j = Create();
  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  EXPECT_EQ(store_->Retry(Create().id, {}).status().code(), StatusCode::kFailedPrecondition)
      << "a queued job";
  // Another node retries it and a worker leases it while this Retry is under way: the UPDATE
  // itself must refuse a job that is running by the time it runs.
  Result<Job> retried = Status::Ok();
  WhileAnotherWriterCommits(
      "UPDATE jobs SET state = 'running', lease_owner = 'w9' WHERE id = '" + j.id + "'",
      [&] { retried = store_->Retry(j.id, {}); });
  EXPECT_EQ(retried.status().code(), StatusCode::kFailedPrecondition);
  Job after = *store_->GetJob(j.id);
  EXPECT_EQ(after.state, JobState::kRunning);
  EXPECT_EQ(after.lease_owner, "w9");
}

TEST_P(StoreTest, CancelQueuedRunningAndFinished) {
  Job queued = Create(), running = Create();
  ASSERT_EQ(store_->RequestCancel(queued.id)->state, JobState::kCanceled);
  Lease();  // takes `running` (queued one is canceled)
  Result<Job> r = store_->RequestCancel(running.id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kRunning);
  EXPECT_TRUE(r->cancel_requested);
  EXPECT_EQ(store_->RequestCancel(queued.id).status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(StoreTest, RetryGivesAFreshSetOfAttemptsNumberedOn) {
  Job j = Create("key_a", 1);
  Lease();
  ASSERT_TRUE(
      store_->FinishAttempt(j.id, "w1", AttemptEnd::kFailedRetryable, "crashed", "x", nullptr)
          .ok());
  ASSERT_EQ(store_->GetJob(j.id)->state, JobState::kFailed);
  Result<Job> r = store_->Retry(j.id, {2, 5});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, JobState::kQueued);
  EXPECT_EQ(r->attempts, 1) << "the attempt made before the retry still counts";
  EXPECT_EQ(r->max_attempts, 3) << "two more attempts";
  EXPECT_EQ(r->retries, 1);
  EXPECT_EQ(store_->Retry(j.id, {2, 5}).status().code(), StatusCode::kFailedPrecondition);
  // The retry's first attempt is number 2 in the log, and its second failure is final at 3.
  for (int number : {2, 3}) {
    EXPECT_EQ(Lease().attempts, number);
    ASSERT_TRUE(
        store_->FinishAttempt(j.id, "w1", AttemptEnd::kFailedRetryable, "crashed", "x", nullptr)
            .ok());
  }
  Job after = *store_->GetJob(j.id);
  EXPECT_EQ(after.state, JobState::kFailed);
  EXPECT_NE(after.error.find("gave up after 3 attempts"), std::string::npos) << after.error;
  ASSERT_EQ(after.attempt_log.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(after.attempt_log[i].number, i + 1);
}

TEST_P(StoreTest, RetriesAreCappedPerJob) {
  Job j = Create();
  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  for (int i = 1; i <= 2; ++i) {
    Result<Job> r = store_->Retry(j.id, {3, 2});
    ASSERT_TRUE(r.ok()) << "retry " << i << ": " << r.status().ToString();
    EXPECT_EQ(r->retries, i);
    ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  }
  Result<Job> third = store_->Retry(j.id, {3, 2});
  EXPECT_EQ(third.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(third.status().message().find("--max-retries 2"), std::string::npos)
      << third.status().message();
  EXPECT_EQ(store_->GetJob(j.id)->state, JobState::kCanceled);
  // The cap is in the UPDATE too: a retry by another node between the read and the write loses.
  ASSERT_TRUE(store_->Retry(j.id, {3, 3}).ok());
  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  Result<Job> raced = Status::Ok();
  WhileAnotherWriterCommits("UPDATE jobs SET retries = 4 WHERE id = '" + j.id + "'", [&] {
    raced = store_->Retry(j.id, {3, 4});
  });
  EXPECT_EQ(raced.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob(j.id)->retries, 4);
}

TEST_P(StoreTest, DeleteOnlyFinishedJobs) {
  Job j = Create();
  EXPECT_EQ(store_->DeleteJob(j.id).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  EXPECT_TRUE(store_->DeleteJob(j.id).ok());
  EXPECT_EQ(store_->GetJob(j.id).status().code(), StatusCode::kNotFound);
}

TEST_P(StoreTest, IdempotencyKey) {
  bool existed = false;
  NewJob nj{"key_a", json{{"a", 1}}, 3, "idem-1", "hash-1", 0, {}};
  Result<Job> first = store_->CreateJob(nj, &existed);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(existed);
  Result<Job> second = store_->CreateJob(nj, &existed);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(existed);
  EXPECT_EQ(second->id, first->id);
  nj.request_hash = "hash-2";
  EXPECT_EQ(store_->CreateJob(nj, &existed).status().code(), StatusCode::kFailedPrecondition);
  nj.owner = "key_b";  // keys are per tenant
  Result<Job> other = store_->CreateJob(nj, &existed);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->id, first->id);
}

TEST_P(StoreTest, ListNewestFirstWithCursorsFiltersAndOwners) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Create("key_a").id);
  Create("key_b");
  ListQuery q;
  q.owner = "key_a";
  q.limit = 2;
  Result<ListPage> p1 = store_->ListJobs(q);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->jobs.size(), 2u);
  EXPECT_EQ(p1->jobs[0].id, ids[4]);
  EXPECT_EQ(p1->jobs[1].id, ids[3]);
  q.cursor = p1->next_cursor;
  Result<ListPage> p2 = store_->ListJobs(q);
  q.cursor = p2->next_cursor;
  Result<ListPage> p3 = store_->ListJobs(q);
  ASSERT_EQ(p3->jobs.size(), 1u);
  EXPECT_EQ(p3->jobs[0].id, ids[0]);
  EXPECT_TRUE(p3->next_cursor.empty());
  ASSERT_TRUE(store_->RequestCancel(ids[2]).ok());
  ListQuery canceled;
  canceled.state = JobState::kCanceled;
  EXPECT_EQ(store_->ListJobs(canceled)->jobs.size(), 1u);
  EXPECT_EQ(store_->ListJobs(ListQuery{})->jobs.size(), 6u) << "no owner: every job (admin)";
  auto counts = store_->CountByState("key_a");
  EXPECT_EQ((*counts)["queued"], 4);
  EXPECT_EQ((*counts)["canceled"], 1);
}

TEST_P(StoreTest, RetentionDeletesOldFinishedJobsOnly) {
  Job old = Create(), running = Create();
  ASSERT_TRUE(store_->RequestCancel(old.id).ok());
  Lease();
  Result<int64_t> n = store_->DeleteFinishedBefore(NowSeconds() + 1);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE(store_->GetJob(old.id).ok());
  EXPECT_TRUE(store_->GetJob(running.id).ok());
}

TEST_P(StoreTest, Keys) {
  Result<ApiKey> k = store_->CreateKey("ci", "hash-abc", false, "whsec_1");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(store_->CreateKey("ci", "hash-def", false, "whsec_2").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->FindKeyByHash("hash-abc")->id, k->id);
  EXPECT_EQ(*store_->WebhookSecret(k->id), "whsec_1");
  EXPECT_EQ(*store_->RotateWebhookSecret("ci", "whsec_3"), "whsec_3");
  EXPECT_EQ(*store_->WebhookSecret(k->id), "whsec_3");
  EXPECT_TRUE(store_->RevokeKey("ci").ok());
  EXPECT_TRUE(store_->FindKeyByHash("hash-abc")->revoked);
  EXPECT_EQ(store_->RevokeKey("ci").code(), StatusCode::kNotFound);
}

// A key's storage scope, and the job submitted under it, keep it; a damaged one reaches nothing.
TEST_P(StoreTest, StorageScopesOfKeysAndJobsAreKeptAndFailClosed) {
  const nlohmann::json scope = {{"paths", {"/srv/media/acme"}}, {"buckets", {"default@acme"}}};
  ASSERT_TRUE(store_->CreateKey("acme", "hash-acme", false, "whsec", scope).ok());
  ASSERT_TRUE(store_->CreateKey("team", "hash-team", false, "whsec").ok());
  EXPECT_EQ(store_->FindKeyByHash("hash-acme")->storage, scope);
  EXPECT_TRUE(store_->FindKeyByHash("hash-team")->storage.is_null()) << "a team's key";
  bool existed = false;
  Result<Job> job = store_->CreateJob({"key_acme", {{"n", 1}}, 3, "", "", 0, {}, scope}, &existed);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(store_->GetJob(job->id)->storage, scope);
  EXPECT_TRUE(Create().storage.is_null());
  RawConnection raw(location_);
  ASSERT_EQ(raw.Exec("UPDATE api_keys SET storage = '{\"paths\": [' WHERE name = 'acme'"), "");
  ASSERT_EQ(raw.Exec("UPDATE jobs SET storage = 'damaged' WHERE id = '" + job->id + "'"), "");
  EXPECT_EQ(store_->FindKeyByHash("hash-acme")->storage, nlohmann::json::object());
  EXPECT_EQ(store_->GetJob(job->id)->storage, nlohmann::json::object());
}

// Keys take turns within a priority, in rounds: a key that queued many jobs keeps no other key
// waiting behind all of them, and a key alone is served first come, first served.
TEST_P(StoreTest, KeysTakeTurnsInTheQueue) {
  for (int i = 0; i < 4; ++i) Create("key_a");
  Create("key_b");
  Create("key_b");
  Create("key_c");
  auto order = [&] {
    std::string owners;
    for (Result<std::optional<Job>> leased = store_->Lease("w1", "h", 30);
         leased.ok() && leased->has_value(); leased = store_->Lease("w1", "h", 30))
      owners += (**leased).owner.substr(4);
    return owners;
  };
  // Rounds: a, b and c; then a and b; then a, twice.
  EXPECT_EQ(order(), "abcabaa");
  // A flood queued first: a job queued after it is served in the next round, not after fifty.
  for (int i = 0; i < 50; ++i) Create("key_a");
  Create("key_b");
  std::string flood = order();
  EXPECT_EQ(flood.find('b'), 1u) << flood;
  // Priority still goes first.
  Create("key_a");
  bool existed = false;
  ASSERT_TRUE(store_->CreateJob({"key_b", {{"n", 0}}, 3, "", "", 5, {}}, &existed).ok());
  EXPECT_EQ(order(), "ba");
}

// The clock of the turns is the turns served, at each priority: a job no worker can take (a tag
// none has) or one at another priority holds no key's jobs back, and a retry goes to the back.
TEST_P(StoreTest, TurnsAreKeptByWhatIsServedAtEachPriority) {
  bool existed = false;
  auto create = [&](const std::string& owner, int priority, std::vector<std::string> tags) {
    Result<Job> j = store_->CreateJob({owner, {{"n", 0}}, 3, "", "", priority, tags}, &existed);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? j->id : "";
  };
  create("key_c", 0, {"gpu"});  // waits for a worker with a GPU, which never comes
  for (int i = 0; i < 6; ++i) create("key_a", 0, {});
  std::string leased;
  for (int round = 0; round < 8; ++round) {
    if (leased.find_last_of('b') == std::string::npos || leased.back() == 'b')
      create("key_b", 0, {});  // b keeps one job queued
    Result<std::optional<Job>> j = store_->Lease("w1", "h", 30);
    ASSERT_TRUE(j.ok() && j->has_value());
    leased += (**j).owner.substr(4);
  }
  EXPECT_EQ(std::count(leased.begin(), leased.end(), 'a'), 4) << leased;
  EXPECT_EQ(std::count(leased.begin(), leased.end(), 'b'), 4) << leased;

  // A key's turn at one priority is not pushed back by its jobs queued at another.
  for (int i = 0; i < 20; ++i) create("key_b", 5, {});
  create("key_a", 5, {});
  for (int i = 0; i < 2; ++i) {
    Result<std::optional<Job>> j = store_->Lease("w1", "h", 30);
    ASSERT_TRUE(j.ok() && j->has_value());
    leased += (**j).owner.substr(4);
  }
  EXPECT_EQ(leased.substr(leased.size() - 2), "ba") << leased;
}

TEST_P(StoreTest, ARetryIsAJobBackInTheQueueWithinItsKeysLimitAndAtTheBackOfTheRound) {
  Job old = Create("key_a");  // the first turn, then canceled
  ASSERT_TRUE(store_->RequestCancel(old.id).ok());
  Create("key_a");
  Create("key_a");
  Create("key_b");
  Result<Job> retried = store_->Retry(old.id, {3, 5, 4});
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  std::string owners, last;
  for (Result<std::optional<Job>> j = store_->Lease("w1", "h", 30); j.ok() && j->has_value();
       j = store_->Lease("w1", "h", 30)) {
    owners += (**j).owner.substr(4);
    last = (**j).id;
  }
  EXPECT_EQ(owners, "abaa");
  EXPECT_EQ(last, old.id) << "after its key's queued jobs, not first with the turn it had";

  Job again = Create("key_a");
  ASSERT_TRUE(store_->RequestCancel(again.id).ok());
  Create("key_a");
  Create("key_a");
  EXPECT_EQ(store_->Retry(again.id, {3, 5, 5}).status().code(), StatusCode::kResourceExhausted)
      << "three running (leased above) and two queued fill a limit of five";
  EXPECT_TRUE(store_->Retry(again.id, {3, 5, 0}).ok()) << "no limit";
}

// NewJob::owner_limit counts the owner's jobs in the queue, running ones too, not finished ones.
TEST_P(StoreTest, AnOwnersJobsInTheQueueAreBoundedWhenAsked) {
  auto create = [&](int limit) {
    bool existed = false;
    return store_->CreateJob({"key_a", {{"n", 1}}, 3, "", "", 0, {}, nullptr, limit}, &existed);
  };
  ASSERT_TRUE(create(2).ok());
  ASSERT_TRUE(create(2).ok());
  EXPECT_EQ(create(2).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(create(0).ok()) << "no limit";
  EXPECT_TRUE(Create("key_b").id.size()) << "another owner's";
  Result<std::optional<Job>> leased = store_->Lease("w1", "h", 30);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  ASSERT_EQ((*leased)->owner, "key_a");
  EXPECT_EQ(create(3).status().code(), StatusCode::kResourceExhausted) << "running ones count";
  ASSERT_TRUE(store_->FinishAttempt((*leased)->id, "w1", AttemptEnd::kSucceeded, "", "", {}).ok());
  EXPECT_TRUE(create(3).ok()) << "finished ones do not";
}

// A database made by reel before the stores shared their migrations (SQLite recorded 4 steps,
// PostgreSQL 2, in schema_version) is taken over: its jobs, keys and webhooks are all still there.
TEST_P(StoreTest, OpensADatabaseMadeByTheOldSchema) {
  store_.reset();
  std::string location =
      GetParam() == "sqlite" ? dir_ / "old.db" : testing::PostgresServer::Instance().NewDatabase();
  {
    RawConnection raw(location);
    std::ifstream in(std::string(REEL_STORE_TESTDATA) +
                     (raw.postgres() ? "/legacy_postgres_v2.sql" : "/legacy_sqlite_v4.sql"));
    std::stringstream ddl;
    ddl << in.rdbuf();
    ASSERT_FALSE(ddl.str().empty());
    ASSERT_EQ(raw.Exec(ddl.str()), "");
    ASSERT_EQ(
        raw.Exec(
            "INSERT INTO api_keys (id, name, hash, admin, created_at, webhook_secret) VALUES "
            "('key_old', 'old', 'hash-old', FALSE, 1, 'whsec_old');"
            "INSERT INTO jobs (id, owner, state, spec, attempts, max_attempts, created_at, "
            "updated_at, finished_at, result) VALUES ('job_done', 'key_old', 'succeeded', "
            "'{\"webhook\":{\"url\":\"http://h/x\"}}', 1, 3, 1, 2, 2, '{\"outputs\":[]}');"
            "INSERT INTO attempts (job_id, number, worker_id, host, started_at, ended_at, outcome) "
            "VALUES ('job_done', 1, 'w1', 'h1', 1, 2, 'succeeded');"
            "INSERT INTO webhooks (job_id, owner, url, event, payload, created_at, "
            "next_attempt_at) VALUES ('job_done', 'key_old', 'http://h/x', 'succeeded', '{}', 2, "
            "2);"
            "INSERT INTO jobs (id, owner, state, spec, max_attempts, created_at, updated_at, "
            "priority, tags) VALUES ('job_waiting', 'key_old', 'queued', '{}', 3, 3, 3, 5, "
            "'[\"gpu\"]');"),
        "");
  }
  for (int open = 0; open < 2; ++open) {  // taken over, then opened as it is
    Result<std::unique_ptr<JobStore>> s = OpenStore(location);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    JobStore& store = **s;
    Result<Job> done = store.GetJob("job_done");
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    EXPECT_EQ(done->state, JobState::kSucceeded);
    EXPECT_TRUE(done->result.contains("outputs"));
    ASSERT_EQ(done->attempt_log.size(), 1u);
    EXPECT_EQ(done->attempt_log[0].host, "h1");
    EXPECT_EQ(store.ListWebhooks("job_done")->size(), 1u);
    EXPECT_EQ(*store.WebhookSecret("key_old"), "whsec_old");
    EXPECT_EQ(store.GetJob("job_waiting")->priority, 5);
    EXPECT_EQ(store.CountByState("key_old")->at("queued"), 1);
    RawConnection raw(location);
    EXPECT_EQ(raw.Value("SELECT COUNT(*) FROM reel_migrations"),
              std::to_string(Migrations().size()))
        << "one row a step";
    // PostgreSQL's first old step was today's 1 to 3.
    int latest = Migrations().back().version;
    EXPECT_EQ(raw.Value("SELECT version FROM schema_version"),
              std::to_string(raw.postgres() ? latest - 2 : latest))
        << "the old count stays in the old numbering, for an older reel on the same database";
    if (open == 1) {
      Result<std::optional<Job>> leased = store.Lease("w", "h", 30, {"gpu"});
      ASSERT_TRUE(leased.ok() && leased->has_value()) << leased.status().ToString();
      EXPECT_EQ((*leased)->id, "job_waiting");
      bool existed = false;
      EXPECT_TRUE(store.CreateJob({"key_old", json::object(), 3, "", "", 0, {}}, &existed).ok());
    }
  }
}

TEST_P(StoreTest, RefusesADatabaseNewerThanThisReel) {
  store_.reset();
  RawConnection raw(location_);
  ASSERT_EQ(raw.Exec("INSERT INTO reel_migrations (version, applied_at) VALUES (999, 0)"), "");
  Result<std::unique_ptr<JobStore>> s = OpenStore(location_);
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
}

TEST_P(StoreTest, Workers) {
  ASSERT_TRUE(
      store_->HeartbeatWorker({"w1", "h", "0.1", 2, {"job_x"}, 1, 0, {"gpu"}, "sha256:ab"}).ok());
  Result<std::vector<WorkerInfo>> ws = store_->ListWorkers();
  ASSERT_EQ(ws->size(), 1u);
  EXPECT_EQ((*ws)[0].running_jobs, std::vector<std::string>{"job_x"});
  EXPECT_EQ((*ws)[0].tags, std::vector<std::string>{"gpu"}) << "GET /v1/workers showed null";
  EXPECT_EQ((*ws)[0].staging, "sha256:ab");
  EXPECT_GT((*ws)[0].last_heartbeat, 0);
  ASSERT_TRUE(store_->RemoveWorker("w1").ok());
  EXPECT_TRUE(store_->ListWorkers()->empty());
}

// The attempt's own log (GET /v1/jobs/{id}/log): one per attempt, by number, written by the
// worker holding it before its end, deleted with the job.
TEST_P(StoreTest, AttemptLogsAreKeptPerAttemptByTheLeaseHolder) {
  Job j = Create("key_a", 2);
  Lease("w1");
  json first = {{"lines", {{{"ts", "t"}, {"level", "warn"}, {"msg", "first \u00e9"}}}},
                {"dropped", 7}};
  EXPECT_EQ(store_->AttemptLog(j.id, 1)->dump(), R"({"dropped":0,"lines":[]})");
  ASSERT_TRUE(store_->SaveAttemptLog(j.id, 1, "w2", {{"lines", json::array()}}).ok());
  EXPECT_EQ((*store_->AttemptLog(j.id, 1))["dropped"], 0) << "not the holder: nothing written";
  ASSERT_TRUE(store_->SaveAttemptLog(j.id, 1, "w1", first).ok());
  ASSERT_TRUE(
      store_->FinishAttempt(j.id, "w1", AttemptEnd::kFailedRetryable, "failed", "x", nullptr).ok());
  Lease("w2");
  json second = {{"lines", {{{"ts", "t"}, {"level", "info"}, {"msg", "second"}}}}, {"dropped", 0}};
  ASSERT_TRUE(store_->SaveAttemptLog(j.id, 2, "w2", second).ok());
  EXPECT_EQ(*store_->AttemptLog(j.id, 1), first);
  EXPECT_EQ(*store_->AttemptLog(j.id, 2), second);
  EXPECT_EQ(store_->AttemptLog(j.id, 3).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(
      store_->FinishAttempt(j.id, "w2", AttemptEnd::kFailedPermanently, "failed", "y", nullptr)
          .ok());
  ASSERT_TRUE(store_->SaveAttemptLog(j.id, 1, "w1", second).ok());
  EXPECT_EQ(*store_->AttemptLog(j.id, 1), first) << "an ended attempt's log stays as it was";
  ASSERT_TRUE(store_->DeleteJob(j.id).ok());
  EXPECT_EQ(store_->AttemptLog(j.id, 1).status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(PostgresStore, SurvivesTheDatabaseGoingAwayForAWhile) {
  std::string url = testing::PostgresServer::Instance().NewDatabase();
  ASSERT_FALSE(url.empty());
  Result<std::unique_ptr<JobStore>> store = OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  bool existed = false;
  ASSERT_TRUE((*store)->CreateJob({"k", json::object(), 3, "", "", 0, {}}, &existed).ok());
  testing::PostgresServer::Instance().Restart(2);
  // The first call after the restart may report the lost connection; the store reconnects.
  Status s = (*store)->Ping();
  if (!s.ok()) s = (*store)->Ping();
  EXPECT_TRUE(s.ok()) << s.ToString();
  Result<std::optional<Job>> leased = (*store)->Lease("w", "h", 30);
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  EXPECT_TRUE(leased->has_value());
}

TEST(PostgresStore, ConcurrentWorkersNeverTakeTheSameJob) {
  std::string url = testing::PostgresServer::Instance().NewDatabase();
  ASSERT_FALSE(url.empty());
  std::vector<std::unique_ptr<JobStore>> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(std::move(OpenStore(url)).value());
  bool existed = false;
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(workers[0]->CreateJob({"k", json{{"n", i}}, 3, "", "", 0, {}}, &existed).ok());
  std::mutex mu;
  std::vector<std::string> taken;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      for (;;) {
        std::string name = "w";  // appended: GCC 12 misreports "w" + str (-Wrestrict)
        name.append(std::to_string(w));
        Result<std::optional<Job>> j = workers[w]->Lease(name, "h", 30);
        if (!j.ok() || !j->has_value()) return;
        std::lock_guard lock(mu);
        taken.push_back((*j)->id);
      }
    });
  for (auto& t : threads) t.join();
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken.size(), 40u);
  EXPECT_EQ(std::unique(taken.begin(), taken.end()), taken.end()) << "a job leased twice";
}

TEST(PostgresStore, SubmissionsWakeListeningWorkers) {
  std::string url = testing::PostgresServer::Instance().NewDatabase();
  ASSERT_FALSE(url.empty());
  std::unique_ptr<JobStore> api = std::move(OpenStore(url)).value();
  std::unique_ptr<JobStore> worker = std::move(OpenStore(url)).value();
  EXPECT_FALSE(worker->WaitForWork(0.2)) << "nothing queued yet";
  std::thread submit([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    bool existed = false;
    api->CreateJob({"k", json::object(), 3, "", "", 0, {}}, &existed);
  });
  auto start = std::chrono::steady_clock::now();
  bool woke = false;
  while (!woke && std::chrono::steady_clock::now() - start < std::chrono::seconds(5))
    woke = worker->WaitForWork(1);
  submit.join();
  EXPECT_TRUE(woke) << "NOTIFY on submit reaches a LISTENing worker";
}

}  // namespace
}  // namespace reel::store
