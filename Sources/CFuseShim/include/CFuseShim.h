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

/// Runs the multi-threaded loop (fuse_session_loop_mt is version-selected)
/// with at most `max_threads` workers, keeping `idle_threads` alive.
int rfs_session_loop_mt(struct fuse_session *se, unsigned max_threads,
                        unsigned idle_threads);

/// Bit fields of fuse_file_info, which Swift cannot set portably.
void rfs_fi_set_direct_io(struct fuse_file_info *fi);
void rfs_fi_set_nonseekable(struct fuse_file_info *fi);

/// The kernel's lock-owner cookie of the request, for diagnostics.
uint64_t rfs_fi_lock_owner(const struct fuse_file_info *fi);

/// Asks the kernel for O_TRUNC in open flags instead of a separate SETATTR.
void rfs_conn_want_atomic_o_trunc(struct fuse_conn_info *conn);

#endif
