#include "api/event_streams.h"

#include <set>
#include <vector>

#include "store/job_view.h"

namespace reel::api {

using nlohmann::json;

namespace {

double Fraction(const json& progress) {
  return progress.is_object() ? progress.value("fraction", 0.0) : 0.0;
}

}  // namespace

EventStreams::EventStreams(store::JobStore* store, events::JobEvents* hub, const StoreGate* gate,
                           EventStreamOptions options)
    : store_(store), hub_(hub), gate_(gate), options_(options) {
  // One subscription for every stream: the hub's fan-out stays one callback per event.
  hub_token_ = hub_->Subscribe("*", [this](const std::string& event, const json& data) {
    std::string id = data.is_object() ? data.value("id", "") : "";
    if (!id.empty()) OnLocalEvent(id, event, data);
  });
  poller_ = std::thread([this] { PollLoop(); });
}

EventStreams::~EventStreams() { Stop(); }

void EventStreams::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  hub_->Unsubscribe(hub_token_);
  poller_.join();
}

EventStreams::OpenResult EventStreams::Open(const std::string& job_id, const std::string& key_id,
                                            const std::string& key_hash, const json& initial,
                                            Sink sink, uint64_t* token) {
  std::lock_guard lock(mu_);
  if (static_cast<int>(streams_.size()) >= options_.max_streams) return OpenResult::kGlobalCap;
  int& n = per_key_[key_id];
  if (n >= options_.max_per_key) return OpenResult::kKeyCap;
  ++n;
  *token = next_++;
  auto stream = std::make_unique<Stream>(Stream{job_id, key_id, key_hash, std::move(sink)});
  Watched& w = jobs_[job_id];
  if (w.streams.empty()) {
    w.state = initial.value("state", "");
    w.fraction = Fraction(initial.value("progress", json::object()));
  }
  w.streams[*token] = stream.get();
  streams_[*token] = std::move(stream);
  return OpenResult::kOk;
}

void EventStreams::Close(uint64_t token) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(token);
  if (it == streams_.end()) return;
  auto job = jobs_.find(it->second->job_id);
  if (job != jobs_.end()) {
    job->second.streams.erase(token);
    if (job->second.streams.empty()) jobs_.erase(job);
  }
  if (--per_key_[it->second->key_id] <= 0) per_key_.erase(it->second->key_id);
  streams_.erase(it);
}

size_t EventStreams::size() {
  std::lock_guard lock(mu_);
  return streams_.size();
}

void EventStreams::OnLocalEvent(const std::string& job_id, const std::string& event,
                                const json& data) {
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    // What the poll compares the store with: news only, as the store lags local events.
    if (event == "state") it->second.state = data.value("state", "");
    if (event == "progress" && data.contains("progress"))
      it->second.fraction = std::max(it->second.fraction, Fraction(data["progress"]));
  }
  Fanout(job_id, std::make_shared<const StreamEvent>(StreamEvent{event, data, false}));
}

void EventStreams::Fanout(const std::string& job_id, std::shared_ptr<const StreamEvent> e) {
  std::vector<std::function<void(std::shared_ptr<const StreamEvent>)>> targets;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    targets.reserve(it->second.streams.size());
    for (const auto& [token, s] : it->second.streams) targets.push_back(s->sink.deliver);
  }
  for (const auto& deliver : targets) deliver(e);
}

void EventStreams::PollLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::duration<double>(options_.poll_interval),
                 [&] { return stopping_; });
    if (stopping_ || jobs_.empty()) continue;
    lock.unlock();
    if (!gate_->open()) PollOnce();  // a store that is down is the probe's to watch
    lock.lock();
  }
}

void EventStreams::PollOnce() {
  std::vector<std::string> job_ids;
  std::set<std::string> key_hashes;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, w] : jobs_) job_ids.push_back(id);
    for (const auto& [token, s] : streams_) key_hashes.insert(s->key_hash);
  }
  // One read per watched job, however many streams watch it.
  for (const std::string& id : job_ids) {
    Result<store::Job> job = store_->GetJob(id);
    if (!job.ok()) continue;
    std::vector<std::shared_ptr<const StreamEvent>> news;
    {
      std::lock_guard lock(mu_);
      auto it = jobs_.find(id);
      if (it == jobs_.end()) continue;
      Watched& w = it->second;
      double fraction = Fraction(job->progress);
      if (job->state == store::JobState::kRunning && fraction > w.fraction) {
        w.fraction = fraction;
        news.push_back(std::make_shared<const StreamEvent>(
            StreamEvent{"progress", json{{"id", job->id}, {"progress", job->progress}}, true}));
      }
      std::string state = store::StateName(job->state);
      if (state != w.state) {
        w.state = state;
        news.push_back(
            std::make_shared<const StreamEvent>(StreamEvent{"state", store::JobView(*job), true}));
      }
    }
    for (auto& e : news) Fanout(id, e);
  }
  // One read per key with open streams: a revoked key's streams end within a poll.
  for (const std::string& hash : key_hashes) {
    Result<store::ApiKey> key = store_->FindKeyByHash(hash);
    bool gone = key.ok() ? key->revoked : key.status().code() == StatusCode::kNotFound;
    if (!gone) continue;
    std::vector<std::function<void()>> closes;
    {
      std::lock_guard lock(mu_);
      for (const auto& [token, s] : streams_)
        if (s->key_hash == hash) closes.push_back(s->sink.close);
    }
    for (const auto& close : closes) close();
  }
}

}  // namespace reel::api
