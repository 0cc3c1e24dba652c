// The open event streams of this API node (GET /v1/jobs/{id}/events) and what feeds them. Events
// of jobs run in this process come straight from events::JobEvents; jobs run by workers on other
// hosts (a shared PostgreSQL queue) are seen by one poll per node, about once a second, that
// reads each watched job once however many streams watch it, and publishes what changed. The
// same poll closes the streams of keys that were revoked. Streams are capped per key and in all.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/store_gate.h"
#include "events/job_events.h"
#include "store/job_store.h"

namespace reel::api {

struct StreamEvent {
  std::string name;  // state, progress, ...
  nlohmann::json data;
  bool polled = false;  // read from the store: may repeat what the stream already has
};

struct EventStreamOptions {
  int max_streams = 10000;
  int max_per_key = 100;
  double poll_interval = 1;
};

class EventStreams {
 public:
  struct Sink {
    std::function<void(std::shared_ptr<const StreamEvent>)> deliver;  // must not block
    std::function<void()> close;                                      // the key was revoked
  };
  enum class OpenResult { kOk, kKeyCap, kGlobalCap };

  EventStreams(store::JobStore* store, events::JobEvents* hub, const StoreGate* gate,
               EventStreamOptions options);
  ~EventStreams();
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  // Registers a stream of `job_id` opened by the key `key_id` (whose hash is `key_hash`);
  // `initial` is the job's view the stream starts from. `*token` names it for Close().
  OpenResult Open(const std::string& job_id, const std::string& key_id, const std::string& key_hash,
                  const nlohmann::json& initial, Sink sink, uint64_t* token);
  void Close(uint64_t token);
  size_t size();
  void Stop();

 private:
  struct Stream {
    std::string job_id, key_id, key_hash;
    Sink sink;
  };
  struct Watched {
    std::map<uint64_t, Stream*> streams;
    std::string state;  // last seen, from events or the poll
    double fraction = -1;
  };
  void OnLocalEvent(const std::string& job_id, const std::string& event,
                    const nlohmann::json& data);
  void Fanout(const std::string& job_id, std::shared_ptr<const StreamEvent> e);
  void PollLoop();
  void PollOnce();

  store::JobStore* store_;
  events::JobEvents* hub_;
  const StoreGate* gate_;
  EventStreamOptions options_;
  uint64_t hub_token_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t next_ = 1;
  std::map<uint64_t, std::unique_ptr<Stream>> streams_;
  std::map<std::string, Watched> jobs_;
  std::map<std::string, int> per_key_;
  std::thread poller_;
};

}  // namespace reel::api
