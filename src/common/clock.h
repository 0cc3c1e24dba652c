// Clock: where the worker reads the time, so that its timeouts (lease renewal, stalls, shutdown
// grace) can be driven by tests instead of by waiting. RealClock is the steady clock;
// ManualClock only moves when told to.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

namespace reel {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds on a monotonic scale (not wall time): only differences mean anything.
  virtual double Now() const = 0;
  virtual void SleepFor(double seconds) = 0;
};

class RealClock : public Clock {
 public:
  double Now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void SleepFor(double seconds) override {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  }
  // The one the process shares; it has no state.
  static RealClock& Get() {
    static RealClock clock;
    return clock;
  }
};

// Time stands still until Advance; SleepFor advances it at once (a retry loop ends without
// waiting). Safe to read and advance from different threads.
class ManualClock : public Clock {
 public:
  explicit ManualClock(double start = 1000) : now_(start) {}
  double Now() const override { return now_.load(); }
  void SleepFor(double seconds) override { Advance(seconds); }
  void Advance(double seconds) {
    double t = now_.load();
    while (!now_.compare_exchange_weak(t, t + seconds)) {
    }
  }

 private:
  std::atomic<double> now_;
};

}  // namespace reel
