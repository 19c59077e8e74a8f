#include "CFuseShim.h"
#include <stddef.h>
#include <sys/uio.h>
#include <linux/fuse.h>

struct fuse_session *rfs_session_new(int argc, char **argv,
                                     const struct fuse_lowlevel_ops *ops,
                                     void *userdata)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_session *se = fuse_session_new(&args, ops, sizeof(*ops), userdata);
	fuse_opt_free_args(&args);
	return se;
}

void rfs_fi_set_direct_io(struct fuse_file_info *fi) { fi->direct_io = 1; fi->keep_cache = 0; }
void rfs_fi_set_noflush(struct fuse_file_info *fi) { fi->noflush = 1; }
void rfs_fi_set_nonseekable(struct fuse_file_info *fi) { fi->nonseekable = 1; }

int rfs_reply_open_parallel_writes(fuse_req_t req, uint64_t fh)
{
	struct fuse_open_out out = {
		.fh = fh,
		.open_flags = FOPEN_DIRECT_IO | FOPEN_NOFLUSH | FOPEN_PARALLEL_DIRECT_WRITES | FOPEN_STREAM,
	};
	struct iovec iov = { .iov_base = &out, .iov_len = sizeof(out) };
	return fuse_reply_iov(req, &iov, 1);
}

void rfs_conn_configure(struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	conn->max_background = 65535;
	conn->congestion_threshold = 65535;
}
