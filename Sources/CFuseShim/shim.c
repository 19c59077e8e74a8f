#include "CFuseShim.h"
#include <stddef.h>

struct fuse_session *rfs_session_new(int argc, char **argv,
                                     const struct fuse_lowlevel_ops *ops,
                                     void *userdata)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_session *se = fuse_session_new(&args, ops, sizeof(*ops), userdata);
	fuse_opt_free_args(&args);
	return se;
}

int rfs_session_loop_mt(struct fuse_session *se, unsigned max_threads,
                        unsigned idle_threads)
{
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	if (config == NULL)
		return -1;
	fuse_loop_cfg_set_clone_fd(config, 0);
	fuse_loop_cfg_set_max_threads(config, max_threads);
	fuse_loop_cfg_set_idle_threads(config, idle_threads);
	int rc = fuse_session_loop_mt(se, config);
	fuse_loop_cfg_destroy(config);
	return rc;
}

void rfs_fi_set_direct_io(struct fuse_file_info *fi) { fi->direct_io = 1; fi->keep_cache = 0; }
void rfs_fi_set_nonseekable(struct fuse_file_info *fi) { fi->nonseekable = 1; }
uint64_t rfs_fi_lock_owner(const struct fuse_file_info *fi) { return fi->lock_owner; }

void rfs_conn_want_atomic_o_trunc(struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}
