// ThreadSanitizer builds only (CONFCENTER_SANITIZE=thread): makes Debian's absl::Mutex,
// absl::CondVar and absl::Notification visible to TSan.
//
// Why: Debian builds Abseil without TSan, so the annotations inside absl's mutex.cc are
// compiled out and its lock-free fast paths are invisible: TSan would see no happens-before
// edge through any absl::Mutex and report every guarded access as a race. This file defines
// the out-of-line members with the same (mangled) names; the executable's definitions take
// precedence over libabsl_synchronization.so's for every caller (ELF symbol interposition),
// and each one calls the library's with the __tsan_mutex_* annotations absl itself would
// make: the lock is acquired after the real call returns, released before the real unlock,
// and the real calls (including Condition predicates absl evaluates inside them) run in
// TSan's "ignore" mode, as absl's own annotations do.
//
// Limits: only synchronization through these members becomes visible. Lock-free code in
// other uninstrumented libraries (gRPC's completion queues and closures) stays invisible, so
// TSan is sound only for code whose threads synchronize through absl, std:: or pthread
// primitives (scripts/test-sanitizers runs the in-process unit tests under TSan, not the
// tests that drive a server through gRPC).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

// The library's definition of `name` (a mangled symbol), found once.
template <typename Fn>
Fn Real(const char* name) {
  void* fn = dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found in the Abseil library: %s\n", name,
                 dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// The library calls these members itself (AwaitWithTimeout calls AwaitWithDeadline, Notify
// locks a Mutex): those inner calls reach the wrappers too, and only the outermost one of a
// thread may annotate.
thread_local int depth = 0;
struct Depth {
  Depth() : nested(depth++ > 0) {}
  ~Depth() { --depth; }
  const bool nested;
};

// Finds the library's definition once; an inner call goes straight to it.
#define REAL(type, mangled, ...)                \
  static const auto real = Real<type>(mangled); \
  Depth depth_guard;                            \
  if (depth_guard.nested) return real(__VA_ARGS__);

constexpr unsigned kRead = __tsan_mutex_read_lock;

// Brackets a real call that takes the lock (`flags`: 0 or kRead). `locked` says whether it did.
template <typename Call>
auto Locking(void* mu, unsigned flags, Call call) {
  __tsan_mutex_pre_lock(mu, flags);
  auto locked = call();
  __tsan_mutex_post_lock(mu, flags | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
  return locked;
}

void PreUnlock(void* mu, unsigned flags) { __tsan_mutex_pre_unlock(mu, flags); }
void PostUnlock(void* mu, unsigned flags) { __tsan_mutex_post_unlock(mu, flags); }

// Brackets a real call that releases the held lock, waits and holds it again on return.
template <typename Call>
auto Waiting(void* mu, Call call) {
  __tsan_mutex_pre_unlock(mu, 0);
  auto result = call();  // in ignore mode since pre_unlock
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

using Mx = Mutex;
using Cond = const Condition&;

void Mutex::Lock() {
  REAL(void (*)(Mx*), "_ZN4absl7debian35Mutex4LockEv", this);
  Locking(this, 0, [&] {
    real(this);
    return true;
  });
}
void Mutex::ReaderLock() {
  REAL(void (*)(Mx*), "_ZN4absl7debian35Mutex10ReaderLockEv", this);
  Locking(this, kRead, [&] {
    real(this);
    return true;
  });
}
bool Mutex::TryLock() {
  REAL(bool (*)(Mx*), "_ZN4absl7debian35Mutex7TryLockEv", this);
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool ok = real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_try_lock | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}
bool Mutex::ReaderTryLock() {
  REAL(bool (*)(Mx*), "_ZN4absl7debian35Mutex13ReaderTryLockEv", this);
  const unsigned flags = kRead | __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(this, flags);
  const bool ok = real(this);
  __tsan_mutex_post_lock(this, flags | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}
void Mutex::Unlock() {
  REAL(void (*)(Mx*), "_ZN4absl7debian35Mutex6UnlockEv", this);
  PreUnlock(this, 0);
  real(this);
  PostUnlock(this, 0);
}
void Mutex::ReaderUnlock() {
  REAL(void (*)(Mx*), "_ZN4absl7debian35Mutex12ReaderUnlockEv", this);
  PreUnlock(this, kRead);
  real(this);
  PostUnlock(this, kRead);
}
void Mutex::LockWhen(Cond cond) {
  REAL(void (*)(Mx*, Cond), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", this, cond);
  Locking(this, 0, [&] {
    real(this, cond);
    return true;
  });
}
void Mutex::ReaderLockWhen(Cond cond) {
  REAL(void (*)(Mx*, Cond), "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE", this, cond);
  Locking(this, kRead, [&] {
    real(this, cond);
    return true;
  });
}
// The *WithTimeout/*WithDeadline lock calls hold the lock on return whatever they return.
bool Mutex::LockWhenWithTimeout(Cond cond, Duration timeout) {
  REAL(bool (*)(Mx*, Cond, Duration),
       "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", this, cond,
       timeout);
  bool result = false;
  Locking(this, 0, [&] {
    result = real(this, cond, timeout);
    return true;
  });
  return result;
}
bool Mutex::LockWhenWithDeadline(Cond cond, Time deadline) {
  REAL(bool (*)(Mx*, Cond, Time),
       "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", this, cond,
       deadline);
  bool result = false;
  Locking(this, 0, [&] {
    result = real(this, cond, deadline);
    return true;
  });
  return result;
}
bool Mutex::ReaderLockWhenWithTimeout(Cond cond, Duration timeout) {
  REAL(bool (*)(Mx*, Cond, Duration),
       "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", this,
       cond, timeout);
  bool result = false;
  Locking(this, kRead, [&] {
    result = real(this, cond, timeout);
    return true;
  });
  return result;
}
bool Mutex::ReaderLockWhenWithDeadline(Cond cond, Time deadline) {
  REAL(bool (*)(Mx*, Cond, Time),
       "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", this, cond,
       deadline);
  bool result = false;
  Locking(this, kRead, [&] {
    result = real(this, cond, deadline);
    return true;
  });
  return result;
}
// Await* are called holding the lock (exclusively, as every caller of ours does).
void Mutex::Await(Cond cond) {
  REAL(void (*)(Mx*, Cond), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", this, cond);
  Waiting(this, [&] {
    real(this, cond);
    return true;
  });
}
bool Mutex::AwaitWithTimeout(Cond cond, Duration timeout) {
  REAL(bool (*)(Mx*, Cond, Duration),
       "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE", this, cond,
       timeout);
  return Waiting(this, [&] { return real(this, cond, timeout); });
}
bool Mutex::AwaitWithDeadline(Cond cond, Time deadline) {
  REAL(bool (*)(Mx*, Cond, Time),
       "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE", this, cond,
       deadline);
  return Waiting(this, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  REAL(void (*)(CondVar*, Mx*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE", this, mu);
  Waiting(mu, [&] {
    real(this, mu);
    return true;
  });
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  REAL(bool (*)(CondVar*, Mx*, Duration),
       "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE", this, mu, timeout);
  return Waiting(mu, [&] { return real(this, mu, timeout); });
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  REAL(bool (*)(CondVar*, Mx*, Time),
       "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE", this, mu, deadline);
  return Waiting(mu, [&] { return real(this, mu, deadline); });
}

// Notify releases into the notification; a wait that sees it acquires. (HasBeenNotified is
// inline and cannot be wrapped: code that relies on it alone for ordering stays invisible.)
void Notification::Notify() {
  REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv", this);
  __tsan_release(this);
  real(this);
}
void Notification::WaitForNotification() const {
  REAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv",
       this);
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}
bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  REAL(bool (*)(const Notification*, Duration),
       "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE", this,
       timeout);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}
bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  REAL(bool (*)(const Notification*, Time),
       "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE", this,
       deadline);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
