#ifndef RECORDERFS_REQUEST_LOOP_H
#define RECORDERFS_REQUEST_LOOP_H

// The request loop (docs/request-loop.md): libfuse's multi-threaded loop,
// plus the order in which requests came from the kernel. Swift calls it
// through this header; its settings come in one struct, and its state lives
// in the loop (and, for the worker serving a request, in thread-locals).
#include "CFuseShim.h"
#include <stdint.h>
#include <linux/fuse.h>

struct rfs_loop_config {
	/// Worker threads at most, and idle ones kept at most.
	unsigned max_threads, idle_threads;
	/// How long at most a later request waits for a RELEASE whose handler
	/// blocked (the drive deadline).
	int64_t release_wait_ns;
	/// Gives each RELEASE its key from its inode and file handle, as taken
	/// from the kernel: a RELEASE orders the later requests that wait with
	/// its key; 0 orders none (the reader answers it itself). Without it
	/// every RELEASE has key 1.
	uint64_t (*release_key)(void *context, uint64_t nodeid, uint64_t fh);
	void *context;
	/// The opcodes (bit n for opcode n < 64) whose handlers pass reading on
	/// before they block, so that the reader answers them itself; any other
	/// request is passed to a worker of its own first.
	uint64_t reader_answers;
};

/// Serves the session until it ends; returns 0 or a negative errno.
int rfs_loop_run(struct fuse_session *se, const struct rfs_loop_config *config);

/// Waits until every RELEASE with `key` that the kernel sent before the
/// current request has been handled (each RELEASE with RFS_EVERY_RELEASE; no
/// wait with 0). Call it from a handler, before looking at the locks.
#define RFS_EVERY_RELEASE 0xFFFFFFFFFFFFFFFFULL
void rfs_wait_for_earlier_releases(uint64_t key);

/// Lets another worker take requests from the kernel, if this worker still
/// does; call before waiting for anything.
void rfs_pass_on_reading(void);

/// Bracket a call into a drive: if it takes longer than a moment, another
/// worker takes requests from the kernel meanwhile.
void rfs_drive_call_begins(void);
void rfs_drive_call_ends(void);

#endif
