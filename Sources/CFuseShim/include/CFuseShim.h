#ifndef RECORDERFS_CFUSESHIM_H
#define RECORDERFS_CFUSESHIM_H

// libfuse3 selects symbols by FUSE_USE_VERSION and hides parts of its API
// behind macros; Swift imports neither. Everything Swift needs of that goes
// through the small prefixed functions below.
#define FUSE_USE_VERSION 314
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>
#include <stdint.h>

/// Creates a session from argv-style options (FUSE_ARGS_INIT is a macro).
struct fuse_session *rfs_session_new(int argc, char **argv,
                                     const struct fuse_lowlevel_ops *ops,
                                     void *userdata);

/// Serves the session with up to `max_threads` workers (keeping at most
/// `idle_threads` idle) that take requests in the kernel's order; returns
/// when the session ends. See loop.c.
int rfs_session_loop_ordered(struct fuse_session *se, unsigned max_threads,
                             unsigned idle_threads);

/// Waits until every RELEASE with `key` that the kernel sent before the
/// current request has been handled (each RELEASE with RFS_EVERY_RELEASE; no
/// wait with 0). Call it from a handler, before looking at the locks.
#define RFS_EVERY_RELEASE 0xFFFFFFFFFFFFFFFFULL
void rfs_wait_for_earlier_releases(uint64_t key);

/// Lets another worker take requests from the kernel, if this worker still
/// does; call before waiting for anything (see loop.c).
void rfs_pass_on_reading(void);

/// Bracket a call into a drive: if it takes longer than a moment, another
/// worker takes requests from the kernel meanwhile (see loop.c).
void rfs_drive_call_begins(void);
void rfs_drive_call_ends(void);

/// How long at most a later request waits for a RELEASE whose handler
/// blocked (the drive deadline); default 5 s.
void rfs_set_release_wait(int64_t nanoseconds);

/// Gives each RELEASE its key from its inode and file handle, as taken from
/// the kernel: a RELEASE orders the later requests that wait with its key;
/// 0 orders none (the reader answers it itself). Without it every RELEASE
/// has key 1.
void rfs_set_release_key(uint64_t (*key)(uint64_t nodeid, uint64_t fh));

/// Bit fields of fuse_file_info, which Swift cannot set portably.
void rfs_fi_set_direct_io(struct fuse_file_info *fi);
void rfs_fi_set_noflush(struct fuse_file_info *fi);
void rfs_fi_set_nonseekable(struct fuse_file_info *fi);

/// Answers an open as fuse_reply_open does (direct I/O, no FLUSH), and lets
/// writes through the handle run in parallel: FOPEN_PARALLEL_DIRECT_WRITES,
/// which libfuse 3.14's fuse_file_info cannot carry, so that a write that
/// waits in the daemon does not hold the inode's lock against the writes of
/// other handles. Returns fuse_reply_iov's result (-ENOENT when the opener
/// was interrupted: the handle will get no RELEASE).
int rfs_reply_open_parallel_writes(fuse_req_t req, uint64_t fh);

/// Connection settings: O_TRUNC in open flags instead of a separate SETATTR;
/// no splice, so that the loop sees each request's header; background
/// requests (RELEASE among them) never held back by congestion.
void rfs_conn_configure(struct fuse_conn_info *conn);

#endif
