#ifndef RECORDERFS_CLINUX_H
#define RECORDERFS_CLINUX_H

// The kernel's and glibc's own definitions of what recorderfs asks of Linux,
// so that no number or layout is typed in by hand: loop devices (the virtual
// recorder), CD-ROM ioctls (the tray), device numbers, pid namespaces
// (NS_GET_PARENT, for `holders` read in a container), socket filters,
// posix_spawn's SETSID flag and thread names (GNU extensions).
#include <linux/cdrom.h>
#include <linux/filter.h>
#include <linux/loop.h>
#include <linux/major.h>
#include <linux/nsfs.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

// major(), minor() and makedev() are macros: Swift sees these.
static inline unsigned int rfs_major(dev_t device) { return major(device); }
static inline unsigned int rfs_minor(dev_t device) { return minor(device); }
static inline dev_t rfs_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }

// ioctl request numbers, typed as ioctl(2) takes them.
static const unsigned long RFS_LOOP_CTL_GET_FREE = LOOP_CTL_GET_FREE;
static const unsigned long RFS_LOOP_CONFIGURE = LOOP_CONFIGURE;
static const unsigned long RFS_CDROMEJECT = CDROMEJECT;
static const unsigned long RFS_CDROMCLOSETRAY = CDROMCLOSETRAY;
static const unsigned long RFS_NS_GET_PARENT = NS_GET_PARENT;

// Socket filters (cBPF), for the hotplug socket: the opcodes are macros.
static const unsigned short RFS_BPF_LD_LEN = BPF_LD | BPF_W | BPF_LEN;
static const unsigned short RFS_BPF_LD_WORD = BPF_LD | BPF_W | BPF_ABS;
static const unsigned short RFS_BPF_LD_HALF = BPF_LD | BPF_H | BPF_ABS;
static const unsigned short RFS_BPF_LD_BYTE = BPF_LD | BPF_B | BPF_ABS;
static const unsigned short RFS_BPF_JEQ = BPF_JMP | BPF_JEQ | BPF_K;
static const unsigned short RFS_BPF_JGE = BPF_JMP | BPF_JGE | BPF_K;
static const unsigned short RFS_BPF_RET = BPF_RET | BPF_K;
static const int RFS_BPF_MAXINSNS = BPF_MAXINSNS;

// The major number of SCSI generic nodes (/dev/sg*).
static const unsigned int RFS_SCSI_GENERIC_MAJOR = SCSI_GENERIC_MAJOR;

// POSIX_SPAWN_SETSID, which <spawn.h> shows only under _GNU_SOURCE (set
// for CLinux.c alone: the header is shared with Swift's view of glibc).
extern const short RFS_POSIX_SPAWN_SETSID;

// Names the calling thread (at most 15 bytes shown) for `top -H` and
// `ps -L`: pthread_setname_np is a GNU extension too.
void rfs_name_this_thread(const char *name);

// open(2), close(2) and pwrite(2) of a drive's claim and re-probe, straight
// to the kernel: glibc wraps each as a cancellation point (two atomic
// updates of the thread's state around the call, some 30 instructions),
// and the threads that make these calls never take cancellation then.
// (64-bit Linux: an off_t and a time_t are one register each.)
static inline int rfs_open(const char *path, int flags) { return (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0); }
static inline int rfs_close(int descriptor) { return (int)syscall(SYS_close, descriptor); }
static inline ssize_t rfs_pwrite(int descriptor, const void *buffer, size_t count, off_t offset)
{
    return syscall(SYS_pwrite64, descriptor, buffer, count, offset);
}

// mallopt(M_MXFAST, bytes): glibc's <malloc.h> is not in Swift's view of it.
static inline int rfs_fast_bins_up_to(int bytes) { return mallopt(M_MXFAST, bytes); }

// A mutex with a condition variable, on two futexes (the scheme of glibc's
// own mutex: 0 free, 1 locked, 2 locked and perhaps awaited). Uncontended,
// a lock is one compare-and-swap and an unlock one exchange, inline, where
// pthread_mutex_lock and _unlock cost some 55 instructions a pair in calls
// (the monitors of a recorder are taken a dozen times a cycle). The
// condition is a count of broadcasts that a waiter sleeps on; a broadcast
// with nobody waiting costs one load. Zero-filled is unlocked. The fields
// are only ever touched through these functions.
typedef struct rfs_monitor {
    uint32_t word;      // 0 free, 1 locked, 2 locked and perhaps awaited
    uint32_t sequence;  // broadcasts made while somebody waited
    uint32_t sleepers;  // threads in rfs_monitor_wait; changed with the lock held
} rfs_monitor;

void rfs_monitor_lock_contended(rfs_monitor *monitor);
void rfs_monitor_wake_one(rfs_monitor *monitor);
void rfs_monitor_wake_all(rfs_monitor *monitor);

static inline void rfs_monitor_lock(rfs_monitor *monitor)
{
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&monitor->word, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        rfs_monitor_lock_contended(monitor);
}

static inline void rfs_monitor_unlock(rfs_monitor *monitor)
{
    if (__atomic_exchange_n(&monitor->word, 0, __ATOMIC_RELEASE) == 2)
        rfs_monitor_wake_one(monitor);
}

// Wakes every waiter. Call after the change it announces, made under the
// lock: with the lock held, or after it (a waiter counts itself under it).
static inline void rfs_monitor_broadcast(rfs_monitor *monitor)
{
    if (__atomic_load_n(&monitor->sleepers, __ATOMIC_ACQUIRE) != 0)
        rfs_monitor_wake_all(monitor);
}

// With the lock held: lets go of it, sleeps until a broadcast, a signal or
// `deadline` (CLOCK_MONOTONIC, absolute; NULL: none), and takes it again.
// ETIMEDOUT once the deadline has passed, else 0; errno is kept.
int rfs_monitor_wait(rfs_monitor *monitor, const struct timespec *deadline);

#endif
