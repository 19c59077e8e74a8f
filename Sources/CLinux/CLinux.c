#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CLinux.h"

const short RFS_POSIX_SPAWN_SETSID = POSIX_SPAWN_SETSID;

// Swift fills struct loop_config field by field; these are the layouts it relies on.
_Static_assert(sizeof(struct loop_config) == 304, "struct loop_config: fd, block_size, loop_info64, 8 reserved");
_Static_assert(sizeof(dev_t) == 8, "dev_t is 64 bits, as st_rdev");

void rfs_name_this_thread(const char *name)
{
    pthread_setname_np(pthread_self(), name);
}

// The slow paths of rfs_monitor keep errno, as pthread_mutex_lock and
// _unlock do: a caller may read the errno of its own call after taking or
// letting go of a lock.

// The lock is taken as contended (2) from here on: whoever unlocks it next
// wakes a waiter, if any.
void rfs_monitor_lock_contended(rfs_monitor *monitor)
{
    int saved = errno;
    while (__atomic_exchange_n(&monitor->word, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &monitor->word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

void rfs_monitor_wake_one(rfs_monitor *monitor)
{
    int saved = errno;
    syscall(SYS_futex, &monitor->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

void rfs_monitor_wake_all(rfs_monitor *monitor)
{
    int saved = errno;
    __atomic_fetch_add(&monitor->sequence, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &monitor->sequence, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    errno = saved;
}

// A broadcast after the lock was let go changes the sequence, and the
// kernel's FUTEX_WAIT returns at once when it no longer holds the value read
// under the lock: no wake-up is lost. After waking, the lock is taken as
// contended, since the threads woken by the same broadcast compete for it.
int rfs_monitor_wait(rfs_monitor *monitor, const struct timespec *deadline)
{
    int saved = errno;
    uint32_t sequence = __atomic_load_n(&monitor->sequence, __ATOMIC_RELAXED);
    __atomic_store_n(&monitor->sleepers, monitor->sleepers + 1, __ATOMIC_RELEASE);
    rfs_monitor_unlock(monitor);
    long rc = syscall(SYS_futex, &monitor->sequence, FUTEX_WAIT_BITSET_PRIVATE, sequence, deadline, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    int timedOut = rc == -1 && errno == ETIMEDOUT;
    rfs_monitor_lock_contended(monitor);
    __atomic_store_n(&monitor->sleepers, monitor->sleepers - 1, __ATOMIC_RELEASE);
    errno = saved;
    return timedOut ? ETIMEDOUT : 0;
}
