#ifndef RECORDERFS_CFUSESHIM_H
#define RECORDERFS_CFUSESHIM_H

// libfuse3 selects symbols by FUSE_USE_VERSION and hides parts of its API
// behind macros; Swift imports neither. Everything Swift needs of that goes
// through the small prefixed functions below.
#define FUSE_USE_VERSION 314
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>
#include <stdint.h>

/// Loads libfuse3 (once; the binary does not link it, library.c): NULL when
/// it is loaded, else why it cannot be. Every libfuse function recorderfs
/// calls loads it too, and ends the process if it cannot.
const char *rfs_fuse_load(void);

/// Creates a session from argv-style options (FUSE_ARGS_INIT is a macro).
struct fuse_session *rfs_session_new(int argc, char **argv,
                                     const struct fuse_lowlevel_ops *ops,
                                     void *userdata);

/// Bit fields of fuse_file_info, which Swift cannot set portably.
void rfs_fi_set_direct_io(struct fuse_file_info *fi);
void rfs_fi_set_noflush(struct fuse_file_info *fi);
void rfs_fi_set_nonseekable(struct fuse_file_info *fi);

/// Answers an open as fuse_reply_open does (direct I/O, no FLUSH), and lets
/// writes through the handle run in parallel: FOPEN_PARALLEL_DIRECT_WRITES,
/// which libfuse 3.14's fuse_file_info cannot carry, so that a write that
/// waits in the daemon does not hold the inode's lock against the writes of
/// other handles; and as a stream (FOPEN_STREAM, no file position), so
/// that two writers sharing one open file (a fork, a passed descriptor) do
/// not queue on its position lock, where the second could be neither
/// interrupted nor killed while the first waited. Returns fuse_reply_iov's
/// result (-ENOENT when the opener was interrupted: the handle will get no
/// RELEASE).
int rfs_reply_open_parallel_writes(fuse_req_t req, uint64_t fh);

/// Connection settings: O_TRUNC in open flags instead of a separate SETATTR;
/// no splice, so that the loop sees each request's header; background
/// requests (RELEASE among them) never held back by congestion.
void rfs_conn_configure(struct fuse_conn_info *conn);

#endif
