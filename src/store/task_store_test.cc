// The tasks of a job that fans out, against the JobStore interface on both drivers (SQLite and
// a real PostgreSQL): fan-out, leases, fencing, expiry, the stitch's gate, how the job follows
// its tasks, cancel, retry and retention.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "store/job_store.h"
#include "store/store_test_support.h"

namespace reel::store {
namespace {

using nlohmann::json;

// The identity of the staging the tests' workers share (attempt::StagingIdentity makes them).
constexpr const char* kStaging = "staging-a";

// Every event of every job is queued, so that the tests can read the events a job went through.
std::optional<OutgoingWebhook> ComposeEveryEvent(const Job& job, const std::string& event) {
  return OutgoingWebhook{"http://hooks.test/" + job.id, json{{"event", event}}.dump()};
}

// The store fixture (a fresh store on each driver), with what fanned-out jobs need.
class TaskStoreTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (store_) store_->SetWebhookComposer(ComposeEveryEvent);
  }
  // A job leased by w0 and fanned out into `tasks` (a stitch is added last).
  Job FannedOut(std::vector<NewTask> tasks, std::vector<std::string> tags = {},
                const std::string& staging = kStaging) {
    bool existed = false;
    Result<Job> j = store_->CreateJob({"key_a", json::object(), 3, "", "", 0, tags}, &existed);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    Result<std::optional<Job>> leased = store_->Lease("w0", "h0", 30, tags);
    EXPECT_TRUE(leased.ok() && leased->has_value());
    tasks.push_back({TaskKind::kStitch, 0, json::object(), 1});
    Result<Job> out = store_->FanOut(j->id, "w0", tasks, staging);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : Job{};
  }
  std::optional<Task> LeaseTask(const std::string& worker, double seconds = 30,
                                std::vector<std::string> tags = {},
                                const std::string& staging = kStaging) {
    Result<std::optional<Task>> t =
        store_->LeaseTask(worker, "h-" + worker, seconds, tags, staging);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : std::nullopt;
  }
  Result<Job> Finish(const Task& t, const std::string& worker, AttemptEnd end,
                     json result = json::object(), const std::string& error = "") {
    return store_->FinishTask(t.id, worker, t.attempts, end, error, result);
  }
  std::vector<std::string> Events(const std::string& job_id) {
    std::vector<std::string> events;
    // The Result must outlive the loop: a range over `*temporary` dangles.
    Result<std::vector<WebhookDelivery>> deliveries = store_->ListWebhooks(job_id);
    EXPECT_TRUE(deliveries.ok()) << deliveries.status().ToString();
    if (deliveries.ok())
      for (const WebhookDelivery& d : *deliveries) events.push_back(d.event);
    return events;
  }
  JobState StateOf(const std::string& task_id) { return store_->GetTask(task_id)->state; }
  // Chunk 0 of a job whose first task is its publisher, done by w1; then the publisher's turn
  // that this queues, leased by w2.
  std::optional<Task> FirstPublisherTurn() {
    std::optional<Task> chunk0 = LeaseTask("w1");
    EXPECT_TRUE(chunk0);
    if (!chunk0) return std::nullopt;
    EXPECT_TRUE(Finish(*chunk0, "w1", AttemptEnd::kSucceeded, {{"staging", "chunk-0.a1"}}).ok());
    std::optional<Task> turn = LeaseTask("w2");
    EXPECT_TRUE(turn && turn->kind == TaskKind::kPublish);
    return turn && turn->kind == TaskKind::kPublish ? turn : std::nullopt;
  }
};

const NewTask kMain{TaskKind::kMain, 0, json{{"outputs", {0}}}, 3};
const NewTask kThumb{TaskKind::kThumbnail, 0, json{{"outputs", {1}}}, 1};

TEST_P(TaskStoreTest, FanOutEndsTheFirstAttemptAndQueuesTheTasksInOneStep) {
  bool existed = false;
  Job j = *store_->CreateJob({"key_a", json::object(), 3, "", "", 0, {}}, &existed);
  ASSERT_TRUE(store_->Lease("w0", "h0", 30).ok());
  EXPECT_EQ(store_->FanOut(j.id, "w0", {kMain}, kStaging).status().code(),
            StatusCode::kInvalidArgument)
      << "no stitch: nothing would ever end the job";
  EXPECT_EQ(
      store_->FanOut(j.id, "w9", {kMain, {TaskKind::kStitch, 0, {}, 1}}, kStaging).status().code(),
      StatusCode::kNotFound)
      << "only the lease holder fans out";
  Result<Job> out =
      store_->FanOut(j.id, "w0", {kMain, kThumb, {TaskKind::kStitch, 0, {}, 1}}, kStaging);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->state, JobState::kRunning);
  EXPECT_TRUE(out->lease_owner.empty()) << "the job itself is leased by nobody now";
  ASSERT_EQ(out->attempt_log.size(), 1u);
  EXPECT_EQ(out->attempt_log[0].outcome, "fanned_out");
  EXPECT_GT(out->attempt_log[0].ended_at, 0);
  ASSERT_EQ(out->tasks.size(), 3u);
  EXPECT_EQ(out->tasks[0].kind, TaskKind::kMain);
  EXPECT_EQ(out->tasks[0].payload["outputs"], json({0}));
  for (const Task& t : out->tasks) {
    EXPECT_EQ(t.state, JobState::kQueued);
    EXPECT_EQ(t.job_id, j.id);
    EXPECT_EQ(t.max_attempts, 3) << "the attempts the job had left";
  }
  EXPECT_EQ(out->progress["tasks"], 3);
  bool cancel = true;
  EXPECT_EQ(store_->Renew(j.id, "w0", 30, &cancel).code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->ExpireLeases()->empty()) << "a job without a lease does not expire";
}

TEST_P(TaskStoreTest, TheStitchWaitsForEveryOtherTaskAndEndsTheJob) {
  Job j = FannedOut({kMain, kThumb});
  std::optional<Task> main = LeaseTask("w1"), thumb = LeaseTask("w2");
  ASSERT_TRUE(main && thumb);
  EXPECT_EQ(main->kind, TaskKind::kMain);
  EXPECT_EQ(main->worker, "w1");
  EXPECT_EQ(main->attempts, 1);
  EXPECT_EQ(thumb->kind, TaskKind::kThumbnail);
  EXPECT_FALSE(LeaseTask("w3")) << "the stitch is not leasable while others run";
  ASSERT_TRUE(Finish(*main, "w1", AttemptEnd::kSucceeded, {{"part", "main"}}).ok());
  EXPECT_FALSE(LeaseTask("w3")) << "nor while one is left";
  Result<Job> after = Finish(*thumb, "w2", AttemptEnd::kSucceeded, {{"part", "thumb"}});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, JobState::kRunning);
  EXPECT_NEAR(after->progress["fraction"].get<double>(), 4.0 / 5.0, 1e-9);
  std::optional<Task> stitch = LeaseTask("w3");
  ASSERT_TRUE(stitch);
  EXPECT_EQ(stitch->kind, TaskKind::kStitch);
  Result<Job> done = Finish(*stitch, "w3", AttemptEnd::kSucceeded, {{"outputs", json::array()}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, JobState::kSucceeded);
  EXPECT_EQ(done->result, json({{"outputs", json::array()}})) << "the stitch's result";
  EXPECT_EQ(done->progress["fraction"], 1.0);
  EXPECT_GT(done->finished_at, 0);
  EXPECT_EQ(Events(j.id), (std::vector<std::string>{"running", "succeeded"}));
  EXPECT_EQ(store_->GetTask(main->id)->result, json({{"part", "main"}}));
}

TEST_P(TaskStoreTest, JobProgressIsTheWeightedSumOfItsTasks) {
  Job j = FannedOut({kMain, kThumb});  // weights 3, 1 and the stitch 1
  std::optional<Task> main = LeaseTask("w1");
  ASSERT_TRUE(main);
  Result<json> p = store_->SaveTaskProgress(main->id, "w1", main->attempts, {{"fraction", 0.5}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_NEAR((*p)["fraction"].get<double>(), 1.5 / 5, 1e-9);
  EXPECT_NEAR(store_->GetJob(j.id)->progress["fraction"].get<double>(), 1.5 / 5, 1e-9);
  EXPECT_EQ(store_->GetTask(main->id)->progress["fraction"], 0.5);
  EXPECT_EQ(
      store_->SaveTaskProgress(main->id, "w2", main->attempts, {{"fraction", 0.9}}).status().code(),
      StatusCode::kNotFound);
}

TEST_P(TaskStoreTest, LeasesAreRenewedFencedAndExpiredThroughTheSameRules) {
  Job j = FannedOut({kMain, kThumb});
  std::optional<Task> main = LeaseTask("w1", -1);  // a lease that has already run out
  ASSERT_TRUE(main);
  bool cancel = true;
  EXPECT_TRUE(store_->RenewTask(main->id, "w1", main->attempts, -1, &cancel).ok());
  EXPECT_FALSE(cancel);
  EXPECT_EQ(store_->RenewTask(main->id, "w2", main->attempts, 30, &cancel).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->RenewTask(main->id, "w1", main->attempts + 1, 30, &cancel).code(),
            StatusCode::kNotFound)
      << "another attempt's token";
  Result<std::vector<std::string>> expired = store_->ExpireLeases();
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(*expired, std::vector<std::string>{j.id});
  Task requeued = *store_->GetTask(main->id);
  EXPECT_EQ(requeued.state, JobState::kQueued);
  EXPECT_NE(requeued.error.find("stopped heartbeating"), std::string::npos) << requeued.error;
  EXPECT_EQ(store_->GetJob(j.id)->state, JobState::kRunning) << "one task's crash is not the job's";
  std::optional<Task> again = LeaseTask("w2");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, main->id) << "the expired task first: it is the oldest";
  EXPECT_EQ(again->attempts, 2);
  EXPECT_EQ(Finish(*main, "w1", AttemptEnd::kSucceeded).status().code(), StatusCode::kNotFound)
      << "the first attempt lost its lease: it writes nothing";
  EXPECT_TRUE(Finish(*again, "w2", AttemptEnd::kSucceeded).ok());
  EXPECT_EQ(StateOf(main->id), JobState::kSucceeded);
}

TEST_P(TaskStoreTest, RetryableFailuresRetryTheTaskUntilItsBudgetIsSpent) {
  Job j = FannedOut({kMain});
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::optional<Task> t = LeaseTask("w1");
    ASSERT_TRUE(t);
    ASSERT_EQ(t->attempts, attempt);
    Result<Job> after = Finish(*t, "w1", AttemptEnd::kFailedRetryable, nullptr, "disk full");
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->state, attempt < 3 ? JobState::kRunning : JobState::kFailed);
  }
  Job failed = *store_->GetJob(j.id);
  EXPECT_EQ(failed.error, "main task 0: disk full (gave up after 3 attempts)");
  EXPECT_EQ(failed.tasks.back().state, JobState::kCanceled) << "the stitch has nothing to do";
}

TEST_P(TaskStoreTest, APermanentFailureFailsTheJobAndStopsItsOtherTasks) {
  Job j = FannedOut({kMain, kThumb});
  std::optional<Task> main = LeaseTask("w1"), thumb = LeaseTask("w2");
  ASSERT_TRUE(main && thumb);
  Result<Job> failed = Finish(*thumb, "w2", AttemptEnd::kFailedPermanently, nullptr, "bad seek");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, JobState::kFailed);
  EXPECT_EQ(failed->error, "thumbnail task 0: bad seek");
  EXPECT_EQ(StateOf(main->id), JobState::kCanceled);
  bool cancel = false;
  EXPECT_EQ(store_->RenewTask(main->id, "w1", main->attempts, 30, &cancel).code(),
            StatusCode::kNotFound)
      << "the running sibling's worker stops it on its next renewal";
  EXPECT_EQ(Events(j.id), (std::vector<std::string>{"running", "failed"}));
}

TEST_P(TaskStoreTest, RetryRerunsOnlyWhatFailedAndTheStitch) {
  Job j = FannedOut({kMain, kThumb});
  std::optional<Task> main = LeaseTask("w1"), thumb = LeaseTask("w2");
  ASSERT_TRUE(main && thumb);
  ASSERT_TRUE(Finish(*main, "w1", AttemptEnd::kSucceeded).ok());
  ASSERT_TRUE(Finish(*thumb, "w2", AttemptEnd::kFailedPermanently, nullptr, "bad").ok());
  Result<Job> retried = store_->Retry(j.id, {2, 5});
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->state, JobState::kRunning) << "not queued: its first attempt is not re-run";
  EXPECT_TRUE(retried->error.empty());
  EXPECT_EQ(StateOf(main->id), JobState::kSucceeded);
  EXPECT_EQ(StateOf(thumb->id), JobState::kQueued);
  EXPECT_EQ(retried->tasks.back().state, JobState::kQueued);
  EXPECT_NEAR(retried->progress["fraction"].get<double>(), 3.0 / 5, 1e-9);
  Result<std::optional<Job>> job_lease = store_->Lease("w3", "h", 30);
  ASSERT_TRUE(job_lease.ok());
  EXPECT_FALSE(job_lease->has_value());
  std::optional<Task> again = LeaseTask("w3");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, thumb->id);
  EXPECT_EQ(again->attempts, 2) << "numbered on";
  EXPECT_EQ(store_->GetTask(thumb->id)->max_attempts, 3) << "one spent, two more";
  ASSERT_TRUE(Finish(*again, "w3", AttemptEnd::kSucceeded).ok());
  std::optional<Task> stitch = LeaseTask("w3");
  ASSERT_TRUE(stitch);
  EXPECT_EQ(Finish(*stitch, "w3", AttemptEnd::kSucceeded)->state, JobState::kSucceeded);
  EXPECT_EQ(Events(j.id), (std::vector<std::string>{"running", "failed", "running", "succeeded"}));
}

TEST_P(TaskStoreTest, CancelStopsEveryTask) {
  Job j = FannedOut({kMain, kThumb});
  std::optional<Task> main = LeaseTask("w1");
  ASSERT_TRUE(main);
  Result<Job> canceling = store_->RequestCancel(j.id);
  ASSERT_TRUE(canceling.ok()) << canceling.status().ToString();
  EXPECT_EQ(canceling->state, JobState::kRunning) << "a task still runs";
  EXPECT_TRUE(canceling->cancel_requested);
  EXPECT_EQ(canceling->tasks[1].state, JobState::kCanceled);
  EXPECT_EQ(canceling->tasks[2].state, JobState::kCanceled);
  EXPECT_FALSE(LeaseTask("w2"));
  bool cancel = false;
  ASSERT_TRUE(store_->RenewTask(main->id, "w1", main->attempts, 30, &cancel).ok());
  EXPECT_TRUE(cancel) << "the running task sees the cancel as a job's attempt does";
  Result<Job> canceled = Finish(*main, "w1", AttemptEnd::kCanceled, nullptr);
  ASSERT_TRUE(canceled.ok());
  EXPECT_EQ(canceled->state, JobState::kCanceled);
  EXPECT_GT(canceled->finished_at, 0);
  EXPECT_EQ(Events(j.id), (std::vector<std::string>{"running", "canceled"}));

  Job idle = FannedOut({kMain});  // nothing running: canceled at once
  Result<Job> now = store_->RequestCancel(idle.id);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state, JobState::kCanceled);
}

TEST_P(TaskStoreTest, AnExpiredTaskOfACanceledJobEndsTheJob) {
  Job j = FannedOut({kMain});
  std::optional<Task> main = LeaseTask("w1", -1);
  ASSERT_TRUE(main);
  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  ASSERT_TRUE(store_->ExpireLeases().ok());
  EXPECT_EQ(store_->GetJob(j.id)->state, JobState::kCanceled);
  EXPECT_EQ(StateOf(main->id), JobState::kCanceled);
}

TEST_P(TaskStoreTest, TasksGoOnlyToWorkersWithTheJobsTags) {
  FannedOut({kMain}, {"gpu"});
  EXPECT_FALSE(LeaseTask("w1", 30, {}));
  EXPECT_FALSE(LeaseTask("w1", 30, {"eu"}));
  std::optional<Task> t = LeaseTask("w2", 30, {"gpu", "eu"});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, TaskKind::kMain);
}

TEST_P(TaskStoreTest, RetentionAndDeleteTakeTheTasksWithTheirJob) {
  Job j = FannedOut({kMain});
  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  std::string task_id = j.tasks[0].id;
  ASSERT_TRUE(store_->GetTask(task_id).ok());
  EXPECT_EQ(*store_->DeleteFinishedBefore(NowSeconds() + 1), 1);
  EXPECT_EQ(store_->GetTask(task_id).status().code(), StatusCode::kNotFound);

  Job k = FannedOut({kMain});
  EXPECT_EQ(store_->DeleteJob(k.id).code(), StatusCode::kFailedPrecondition) << "still running";
  ASSERT_TRUE(store_->RequestCancel(k.id).ok());
  ASSERT_TRUE(store_->DeleteJob(k.id).ok());
  EXPECT_EQ(store_->GetTask(k.tasks[0].id).status().code(), StatusCode::kNotFound);
}

// What scales workers: queued tasks wait for slots as queued jobs do, and a job that fanned out
// occupies none itself, its running tasks do.
TEST_P(TaskStoreTest, WorkCountsQueuedAndRunningTasksAsSlots) {
  Job j = FannedOut({kMain, kThumb});
  bool existed = false;
  ASSERT_TRUE(store_->CreateJob({"key_a", json::object(), 3, "", "", 0, {}}, &existed).ok());
  Result<WorkCounts> w = store_->CountWork();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->queued_jobs, 1);
  EXPECT_EQ(w->queued_tasks, 2) << "main and thumbnail; the stitch waits for them";
  EXPECT_EQ(w->running_attempts, 0) << "the fanned-out job runs only as its tasks";
  ASSERT_TRUE(LeaseTask("w1"));
  ASSERT_TRUE(store_->Lease("w2", "h2", 30).ok());
  w = store_->CountWork();
  EXPECT_EQ(w->queued_jobs, 0);
  EXPECT_EQ(w->queued_tasks, 1);
  EXPECT_EQ(w->running_attempts, 2) << "a task and a job's attempt";
  EXPECT_EQ(store_->GetJob(j.id)->state, JobState::kRunning);
}

// Each attempt of a task keeps its own log, written only by the worker holding that attempt,
// and deleted with the job.
TEST_P(TaskStoreTest, EachTaskAttemptKeepsItsOwnLogFencedByItsLease) {
  Job j = FannedOut({kMain});
  std::optional<Task> first = LeaseTask("w1", -1);  // a lease that has already run out
  ASSERT_TRUE(first);
  auto log = [](const std::string& msg) {
    return json{{"lines", {{{"ts", "t"}, {"level", "info"}, {"msg", msg}}}}, {"dropped", 0}};
  };
  EXPECT_EQ(store_->TaskLog(first->id, 1)->at("lines"), json::array()) << "running: none yet";
  EXPECT_EQ(store_->TaskLog(first->id, 2).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->SaveTaskLog(first->id, "w1", 1, log("first")).ok());
  // w1's lease runs out; w2 runs attempt 2. w1 can write neither its attempt nor the new one.
  ASSERT_TRUE(store_->ExpireLeases().ok());
  std::optional<Task> second = LeaseTask("w2");
  ASSERT_TRUE(second);
  ASSERT_EQ(second->attempts, 2);
  EXPECT_EQ(store_->SaveTaskLog(first->id, "w1", 1, log("late")).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SaveTaskLog(first->id, "w1", 2, log("stolen")).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->SaveTaskLog(second->id, "w2", 2, log("second")).ok());
  ASSERT_TRUE(store_->SaveTaskLog(second->id, "w2", 2, log("second, again")).ok());
  EXPECT_EQ(store_->TaskLog(first->id, 1)->at("lines")[0]["msg"], "first");
  EXPECT_EQ(store_->TaskLog(first->id, 2)->at("lines")[0]["msg"], "second, again");
  EXPECT_EQ(store_->TaskLog(first->id, 2)->at("dropped"), 0);
  EXPECT_EQ(store_->TaskLog("task_nothing", 1).status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->RequestCancel(j.id).ok());
  ASSERT_TRUE(Finish(*second, "w2", AttemptEnd::kCanceled).ok());
  ASSERT_TRUE(store_->DeleteJob(j.id).ok());
  EXPECT_EQ(store_->TaskLog(first->id, 1).status().code(), StatusCode::kNotFound);
}

// A job run as tasks gets its progress webhooks per job, not per task: two tasks on two workers
// reporting make one delivery, with the job's weighted fraction.
TEST_P(TaskStoreTest, ProgressWebhooksAreTheJobsNotEachTasks) {
  store_->SetWebhookComposer([](const Job& job, const std::string& event) {
    std::optional<OutgoingWebhook> hook = ComposeEveryEvent(job, event);
    if (event == "progress") {
      hook->payload = json{{"event", event}, {"fraction", job.progress["fraction"]}}.dump();
      hook->progress_interval = 5;
    }
    return hook;
  });
  Job j = FannedOut({kMain, kThumb});  // weights 3, 1 and the stitch 1
  std::optional<Task> main = LeaseTask("w1");
  std::optional<Task> thumb = LeaseTask("w2");
  ASSERT_TRUE(main && thumb);
  ASSERT_TRUE(store_->SaveTaskProgress(main->id, "w1", main->attempts, {{"fraction", 0.5}}).ok());
  ASSERT_TRUE(store_->SaveTaskProgress(thumb->id, "w2", thumb->attempts, {{"fraction", 1}}).ok());
  EXPECT_EQ(Events(j.id), (std::vector<std::string>{"running", "progress"}));
  Result<std::vector<WebhookDelivery>> all = store_->ListWebhooks(j.id);
  ASSERT_TRUE(all.ok());
  EXPECT_NEAR(json::parse(all->back().payload)["fraction"].get<double>(), 2.5 / 5, 1e-9)
      << "the waiting one took the newest job progress";
}

// The tasks of a job that fanned out take their key's turns as its jobs do (FanOut): another
// key's jobs are served between them, not after the last of a film's chunks; the key's own job
// queued behind the one under way waits for its tasks; and priority goes first, task or job.
TEST_P(TaskStoreTest, TasksTakeTheirKeysTurnsBesideOtherKeysJobs) {
  bool existed = false;
  auto create = [&](const std::string& owner, int priority) {
    Result<Job> j = store_->CreateJob({owner, json::object(), 3, "", "", priority, {}}, &existed);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? j->id : "";
  };
  auto fan_out = [&](int chunks) {
    Result<std::optional<Job>> film = store_->Lease("w0", "h0", 30);
    ASSERT_TRUE(film.ok() && film->has_value());
    std::vector<NewTask> tasks;
    for (int i = 0; i < chunks; ++i) tasks.push_back({TaskKind::kChunk, i, json::object(), 10});
    tasks.push_back({TaskKind::kStitch, 0, json::object(), 1});
    ASSERT_TRUE(store_->FanOut((**film).id, "w0", tasks, kStaging).ok());
  };
  // What a worker's slots take, one after the other (WorkerPool::SlotLoop: a task unless a job
  // comes first, then a job), each done at once: a chunk as its ordinal, a stitch as "s", a
  // job as its key.
  auto served = [&] {
    std::string order;
    for (;;) {
      if (std::optional<Task> t = LeaseTask("w1")) {
        order += t->kind == TaskKind::kStitch ? "s" : std::to_string(t->ordinal);
        EXPECT_TRUE(Finish(*t, "w1", AttemptEnd::kSucceeded).ok());
        continue;
      }
      Result<std::optional<Job>> j = store_->Lease("w1", "h1", 30);
      EXPECT_TRUE(j.ok()) << j.status().ToString();
      if (!j.ok() || !j->has_value()) return order;
      order += (**j).owner.substr(4);
      EXPECT_TRUE(store_
                      ->FinishAttempt((**j).id, "w1", AttemptEnd::kSucceeded, "succeeded", "",
                                      json::object())
                      .ok());
    }
  };
  create("key_a", 0);  // a film, fanned out into three chunks
  create("key_a", 0);  // key a's next job, queued before the film fans out
  fan_out(3);
  create("key_b", 0);
  create("key_b", 0);
  EXPECT_EQ(served(), "0b1b2sa");
  create("key_a", 0);
  fan_out(2);
  create("key_b", 5);
  EXPECT_EQ(served(), "b01s");
  // A job these workers cannot take (a tag none has) holds no task back, whatever its turn.
  ASSERT_TRUE(store_->CreateJob({"key_c", json::object(), 3, "", "", 0, {"gpu"}}, &existed).ok());
  create("key_a", 0);
  fan_out(1);
  EXPECT_EQ(served(), "0s");
}

// Progressive publishing (attempt/publish.h): the job's one publisher starts idle, is queued
// only when a chunk done in order from the first (or the audio) gives it more to publish, never
// while it runs and never twice, is queued again when it ends behind, and leaves the rest to the
// stitch once every chunk is done.
TEST_P(TaskStoreTest, TheOnePublisherIsQueuedOnlyWithMoreToPublishAndNeverWhileItRuns) {
  Job j = FannedOut({{TaskKind::kPublish, 0, json::object(), 0.01},
                     {TaskKind::kAudio, 0, json::object(), 1},
                     {TaskKind::kChunk, 0, json::object(), 10},
                     {TaskKind::kChunk, 1, json::object(), 10},
                     {TaskKind::kChunk, 2, json::object(), 10}});
  const std::string publisher = j.tasks[0].id;
  EXPECT_EQ(StateOf(publisher), JobState::kSucceeded) << "idle: nothing to publish yet";
  std::optional<Task> audio = LeaseTask("w1"), chunk0 = LeaseTask("w2"), chunk1 = LeaseTask("w3");
  ASSERT_TRUE(audio && chunk0 && chunk1);
  EXPECT_EQ(audio->kind, TaskKind::kAudio) << "the idle publisher is not leased";
  ASSERT_TRUE(Finish(*chunk1, "w3", AttemptEnd::kSucceeded, {{"staging", "chunk-1.a1"}}).ok());
  EXPECT_EQ(StateOf(publisher), JobState::kSucceeded) << "chunk 1 without chunk 0: nothing";
  ASSERT_TRUE(Finish(*chunk0, "w2", AttemptEnd::kSucceeded, {{"staging", "chunk-0.a1"}}).ok());
  EXPECT_EQ(StateOf(publisher), JobState::kQueued) << "chunks 0 and 1 in order";
  std::optional<Task> turn = LeaseTask("w4");
  ASSERT_TRUE(turn);
  EXPECT_EQ(turn->kind, TaskKind::kPublish) << "before the queued chunk 2";
  // The audio ends while the publisher runs: it is not queued a second time beside itself.
  ASSERT_TRUE(Finish(*audio, "w1", AttemptEnd::kSucceeded, {{"staging", "audio-0.a1"}}).ok());
  EXPECT_EQ(StateOf(publisher), JobState::kRunning);
  std::optional<Task> chunk2 = LeaseTask("w5");
  ASSERT_TRUE(chunk2);
  EXPECT_EQ(chunk2->kind, TaskKind::kChunk);
  // It ends having published the two chunks without the audio (as it saw the job): again.
  ASSERT_TRUE(Finish(*turn, "w4", AttemptEnd::kSucceeded,
                     {{"chunks", 2}, {"audio", false}, {"segments", 4}})
                  .ok());
  EXPECT_EQ(StateOf(publisher), JobState::kQueued) << "the audio and the master are left";
  EXPECT_GE(store_->GetTask(publisher)->max_attempts, 4) << "a fresh budget for each turn";
  std::optional<Task> second = LeaseTask("w6");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->kind, TaskKind::kPublish);
  EXPECT_EQ(second->result["chunks"], 2) << "it reads what the last turn published";
  EXPECT_FALSE(LeaseTask("w7")) << "the stitch waits for chunk 2 and the publisher";
  ASSERT_TRUE(Finish(*second, "w6", AttemptEnd::kSucceeded,
                     {{"chunks", 2}, {"audio", true}, {"segments", 4}})
                  .ok());
  EXPECT_EQ(StateOf(publisher), JobState::kSucceeded);
  ASSERT_TRUE(Finish(*chunk2, "w5", AttemptEnd::kSucceeded, {{"staging", "chunk-2.a1"}}).ok());
  EXPECT_EQ(StateOf(publisher), JobState::kSucceeded) << "every chunk done: the stitch's turn";
  std::optional<Task> stitch = LeaseTask("w7");
  ASSERT_TRUE(stitch);
  EXPECT_EQ(stitch->kind, TaskKind::kStitch);
  Result<Job> job = store_->GetJob(j.id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->tasks[0].result["segments"], 4);
}

// Publishing early is an extra: a publisher that fails for good (its destination refusing)
// goes back to idle with its error and what it had published, and the job goes on to its stitch.
TEST_P(TaskStoreTest, APublisherThatFailsForGoodLeavesTheJobRunning) {
  Job j = FannedOut({{TaskKind::kPublish, 0, json::object(), 0.01},
                     {TaskKind::kChunk, 0, json::object(), 10},
                     {TaskKind::kChunk, 1, json::object(), 10}});
  const std::string publisher = j.tasks[0].id;
  std::optional<Task> turn = FirstPublisherTurn();
  ASSERT_TRUE(turn);
  ASSERT_TRUE(
      Finish(*turn, "w2", AttemptEnd::kFailedPermanently, json(), "destination refused").ok());
  Result<Job> job = store_->GetJob(j.id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kRunning) << job->error;
  EXPECT_EQ(StateOf(publisher), JobState::kSucceeded) << "idle again";
  EXPECT_NE(store_->GetTask(publisher)->error.find("destination refused"), std::string::npos);
  std::optional<Task> chunk1 = LeaseTask("w3");
  ASSERT_TRUE(chunk1);
  EXPECT_EQ(chunk1->kind, TaskKind::kChunk) << "the chunks go on";
}

// A publisher's turn that fails keeps what the turns before it published: the next turn sends
// what is newer (and again what the failed one may have half sent), not everything again.
TEST_P(TaskStoreTest, APublisherTurnThatFailsKeepsWhatWasPublished) {
  Job j = FannedOut({{TaskKind::kPublish, 0, json::object(), 0.01},
                     {TaskKind::kChunk, 0, json::object(), 10},
                     {TaskKind::kChunk, 1, json::object(), 10},
                     {TaskKind::kChunk, 2, json::object(), 10}});
  const std::string publisher = j.tasks[0].id;
  std::optional<Task> turn = FirstPublisherTurn();
  ASSERT_TRUE(turn);
  ASSERT_TRUE(
      Finish(*turn, "w2", AttemptEnd::kSucceeded, {{"chunks", 1}, {"audio", true}, {"segments", 2}})
          .ok());
  std::optional<Task> chunk1 = LeaseTask("w3");
  ASSERT_TRUE(chunk1);
  ASSERT_EQ(chunk1->kind, TaskKind::kChunk);
  ASSERT_TRUE(Finish(*chunk1, "w3", AttemptEnd::kSucceeded, {{"staging", "chunk-1.a1"}}).ok());
  std::optional<Task> failing = LeaseTask("w4");
  ASSERT_TRUE(failing);
  ASSERT_EQ(failing->kind, TaskKind::kPublish);
  ASSERT_TRUE(
      Finish(*failing, "w4", AttemptEnd::kFailedRetryable, json(), "destination down").ok());
  EXPECT_EQ(StateOf(publisher), JobState::kQueued) << "tried again";
  std::optional<Task> again = LeaseTask("w5");
  ASSERT_TRUE(again);
  ASSERT_EQ(again->kind, TaskKind::kPublish);
  EXPECT_EQ(again->result["chunks"], 1) << again->result.dump();
  EXPECT_EQ(again->result["audio"], true);
}

// `--staging` must be the same on every worker that shares a job: a job's tasks carry the
// staging they were fanned out with, and a worker leases only tasks staged where it writes
// (tasks from before stagings were recorded, with none, go to any worker). Workers record theirs
// with their heartbeat, so that a pool counts only the slots that could share its jobs.
TEST_P(TaskStoreTest, AWorkerLeasesOnlyTasksOfItsOwnStaging) {
  Job a = FannedOut({kMain}, {}, "staging-a");
  Job b = FannedOut({kMain}, {}, "staging-b");
  EXPECT_FALSE(LeaseTask("w1", 30, {}, "staging-c")) << "no task is staged where w1 writes";
  std::optional<Task> on_b = LeaseTask("w2", 30, {}, "staging-b");
  ASSERT_TRUE(on_b);
  EXPECT_EQ(on_b->job_id, b.id);
  EXPECT_FALSE(LeaseTask("w2", 30, {}, "staging-b")) << "b's stitch waits for its main";
  std::optional<Task> on_a = LeaseTask("w3", 30, {}, "staging-a");
  ASSERT_TRUE(on_a);
  EXPECT_EQ(on_a->job_id, a.id);
  ASSERT_TRUE(Finish(*on_a, "w3", AttemptEnd::kSucceeded).ok());
  EXPECT_FALSE(LeaseTask("w2", 30, {}, "staging-b")) << "a's stitch is not b's workers'";
  std::optional<Task> stitch = LeaseTask("w3", 30, {}, "staging-a");
  ASSERT_TRUE(stitch);
  EXPECT_EQ(stitch->kind, TaskKind::kStitch);

  // A task queued before stagings were recorded is any worker's.
  Job legacy = FannedOut({kMain}, {}, "");
  std::optional<Task> old = LeaseTask("w4", 30, {}, "staging-c");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->job_id, legacy.id);

  WorkerInfo w{"w5", "host5", "v", 2, {}, NowSeconds(), 0, {}, "staging-b"};
  ASSERT_TRUE(store_->HeartbeatWorker(w).ok());
  w.staging = "staging-a";  // restarted with another --staging
  ASSERT_TRUE(store_->HeartbeatWorker(w).ok());
  Result<std::vector<WorkerInfo>> workers = store_->ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].staging, "staging-a");
}

INSTANTIATE_TEST_SUITE_P(Stores, TaskStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// Four stores on one database, as four worker hosts: every task is leased exactly once.
TEST(PostgresTasks, ConcurrentWorkersNeverHoldTheSameTask) {
  std::string url = testing::PostgresServer::Instance().NewDatabase();
  ASSERT_FALSE(url.empty());
  std::vector<std::unique_ptr<JobStore>> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(std::move(OpenStore(url)).value());
  bool existed = false;
  std::vector<NewTask> tasks;
  for (int i = 0; i < 40; ++i) tasks.push_back({TaskKind::kThumbnail, i, json::object(), 1});
  tasks.push_back({TaskKind::kStitch, 0, json::object(), 1});
  for (int n = 0; n < 2; ++n) {
    Job j = *workers[0]->CreateJob({"k", json{{"n", n}}, 3, "", "", 0, {}}, &existed);
    ASSERT_TRUE(workers[0]->Lease("w0", "h", 30).ok());
    ASSERT_TRUE(workers[0]->FanOut(j.id, "w0", tasks, "stg").ok());
  }
  std::mutex mu;
  std::vector<std::string> taken;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      std::string name = "w";
      name.append(std::to_string(w + 1));
      for (;;) {
        Result<std::optional<Task>> t = workers[w]->LeaseTask(name, "h", 30, {}, "stg");
        if (!t.ok() || !t->has_value()) return;
        std::lock_guard lock(mu);
        taken.push_back((*t)->id);
      }
    });
  for (auto& t : threads) t.join();
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken.size(), 80u) << "every task but the two stitches";
  EXPECT_EQ(std::unique(taken.begin(), taken.end()), taken.end()) << "a task leased twice";
}

}  // namespace
}  // namespace reel::store
