// File: clock.h
// The time source of every decision taken by the clock: time budgets, trial
// deadlines, heartbeats, progress displays. Code that decides by time takes a
// `const Clock&` (or a pointer, null meaning Clock::Real()) instead of
// calling absl::Now(), so that tests can drive it with a FakeClock,
// deterministically and at any speed.
//
//   const Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
//   const absl::Time deadline = clock.Now() + budget;
//
// Thread-safety: both implementations are safe to use from any thread.
#ifndef QTUNE_COMMON_CLOCK_H_
#define QTUNE_COMMON_CLOCK_H_

#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace qtune {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Blocks the caller for `d` (a FakeClock advances by `d` instead).
  virtual void SleepFor(absl::Duration d) const = 0;

  // The wall clock (absl::Now, absl::SleepFor). Static storage.
  static const Clock& Real();
};

// A clock that moves only when told to. Starts at an arbitrary fixed time.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}
  absl::Time Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void SleepFor(absl::Duration d) const override { Advance(d); }
  // Moves the clock forward by `d` (>= 0). Const so that code holding a
  // `const Clock&` can be handed a FakeClock that advances as it works.
  void Advance(absl::Duration d) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (d > absl::ZeroDuration()) now_ += d;
  }

 private:
  mutable std::mutex mu_;
  mutable absl::Time now_;
};

inline const Clock& Clock::Real() {
  class RealClock : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
    void SleepFor(absl::Duration d) const override { absl::SleepFor(d); }
  };
  static const RealClock* const clock = new RealClock;
  return *clock;
}

}  // namespace qtune

#endif  // QTUNE_COMMON_CLOCK_H_
