/*
 * floor: the no-op baseline of scripts/bench.
 *
 * A low-level libfuse filesystem with the tree shape of recorderfs and the
 * same operations implemented (lookup, getattr, setattr, open with direct
 * I/O, read, write, flush, release, readdir), each answered at once, on
 * libfuse's own multi-threaded loop (fuse_session_loop_mt, at most 64
 * workers, 4 idle, no clone_fd). It asks the kernel for what recorderfs asks
 * (default_permissions; atomic O_TRUNC, no splice read, max_background
 * 65535; direct_io and noflush on every open), so the two exchange the same
 * messages with the kernel and the difference is what recorderfs does with
 * them: its handlers and its request loop.
 *
 *     floor MOUNTPOINT NRECORDERS [flush]
 *
 * With "flush", opens do not set noflush: every close(2) then waits for a
 * FLUSH round trip (what recorderfs did before it set noflush).
 *
 * Recorder directories are r0 .. r{N-1}, each with the files of recorderfs.
 * Values read as a free recorder's: lockcount and generation "0\n", the
 * others empty. Writes succeed with their whole length. SIGTERM or SIGINT
 * unmounts.
 *
 * Build: cc -O2 floor.c -o floor $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 314
#include <fuse3/fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Inode numbers as in recorderfs (Sources/RecorderFUSE/Node.swift): root 1,
 * by-id 2, recorder slot s is (s + 1) << 5, its file f is (s + 1) << 5 | (f + 1). */
#define SHIFT 5
#define BY_ID 2

static const char *const files[] = {
	"owner", "lockcount", "acquire", "acquire_force", "release",
	"device", "vendor", "model", "revision", "serial", "capabilities", "media", "sg", "volumes",
	"holders", "generation", "eject", "closetray",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static int control(int f) { return f == 2 || f == 3 || f == 4 || f == 16 || f == 17; }

static long recorders;
static struct timespec mount_time;

enum kind { K_NONE, K_ROOT, K_BYID, K_DIR, K_FILE };

static enum kind classify(fuse_ino_t ino, long *slot, int *file)
{
	if (ino == FUSE_ROOT_ID)
		return K_ROOT;
	if (ino == BY_ID)
		return K_BYID;
	long s = (long)(ino >> SHIFT) - 1;
	if (s < 0 || s >= recorders)
		return K_NONE;
	*slot = s;
	unsigned low = ino & ((1u << SHIFT) - 1);
	if (low == 0)
		return K_DIR;
	if (low - 1 >= NFILES)
		return K_NONE;
	*file = (int)low - 1;
	return K_FILE;
}

static int attributes(fuse_ino_t ino, struct stat *st)
{
	long slot = 0;
	int file = 0;
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_atim = st->st_mtim = st->st_ctim = mount_time;
	st->st_blksize = 4096;
	switch (classify(ino, &slot, &file)) {
	case K_ROOT:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 3 + recorders;
		return 0;
	case K_BYID:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case K_DIR:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case K_FILE:
		st->st_mode = S_IFREG | (control(file) ? 0220 : 0444);
		st->st_nlink = 1;
		st->st_size = 4096;
		return 0;
	default:
		return ENOENT;
	}
}

static int send_flush;

static void fl_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	conn->max_background = 65535;
	conn->congestion_threshold = 65535;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	if (attributes(ino, &e.attr) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = ino;
	e.attr_timeout = 1.0;
	e.entry_timeout = 1.0;
	fuse_reply_entry(req, &e);
}

static void fl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	long slot = 0;
	int file = 0;
	switch (classify(parent, &slot, &file)) {
	case K_ROOT:
		if (strcmp(name, "by-id") == 0)
			return reply_entry(req, BY_ID);
		if (name[0] == 'r' && name[1] >= '0' && name[1] <= '9') {
			char *end;
			long s = strtol(name + 1, &end, 10);
			if (*end == 0 && s < recorders && (s == 0 || name[1] != '0'))
				return reply_entry(req, (fuse_ino_t)(s + 1) << SHIFT);
		}
		break;
	case K_BYID:
		break;
	case K_DIR:
		for (unsigned f = 0; f < NFILES; f++)
			if (strcmp(name, files[f]) == 0)
				return reply_entry(req, (fuse_ino_t)(slot + 1) << SHIFT | (f + 1));
		break;
	case K_FILE:
		fuse_reply_err(req, ENOTDIR);
		return;
	default:
		break;
	}
	fuse_reply_err(req, ENOENT);
}

static void fl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct stat st;
	int error = attributes(ino, &st);
	if (error)
		fuse_reply_err(req, error);
	else
		fuse_reply_attr(req, &st, 1.0);
}

static void fl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	(void)attr;
	(void)to_set;
	(void)fi;
	struct stat st;
	int error = attributes(ino, &st);
	if (error)
		fuse_reply_err(req, error);
	else
		fuse_reply_attr(req, &st, 1.0);
}

static void fl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	long slot = 0;
	int file = 0;
	enum kind kind = classify(ino, &slot, &file);
	if (kind != K_FILE) {
		fuse_reply_err(req, kind == K_NONE ? ENOENT : EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != (control(file) ? O_WRONLY : O_RDONLY)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = !send_flush;
	fuse_reply_open(req, fi);
}

static void fl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	long slot = 0;
	int file = 0;
	if (classify(ino, &slot, &file) != K_FILE || control(file)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	static const char zero[] = "0\n";
	const char *value = (file == 1 || file == 15) ? zero : "";
	size_t length = strlen(value);
	if ((size_t)off >= length) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	length -= off;
	fuse_reply_buf(req, value + off, length < size ? length : size);
}

static void fl_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)buf;
	(void)off;
	(void)fi;
	fuse_reply_write(req, size);
}

static void fl_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void fl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void fl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	long slot = 0;
	int file = 0;
	enum kind kind = classify(ino, &slot, &file);
	if (kind == K_FILE || kind == K_NONE) {
		fuse_reply_err(req, kind == K_FILE ? ENOTDIR : ENOENT);
		return;
	}
	char *buffer = malloc(size ? size : 1);
	if (buffer == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	long count = kind == K_ROOT ? 3 + recorders : kind == K_BYID ? 2 : 2 + (long)NFILES;
	for (long index = off; index < count; index++) {
		char name[32];
		struct stat st;
		memset(&st, 0, sizeof(st));
		if (index == 0 || index == 1) {
			snprintf(name, sizeof(name), "%s", index == 0 ? "." : "..");
			st.st_ino = index == 0 ? ino : FUSE_ROOT_ID;
			st.st_mode = S_IFDIR;
		} else if (kind == K_ROOT && index == 2) {
			snprintf(name, sizeof(name), "by-id");
			st.st_ino = BY_ID;
			st.st_mode = S_IFDIR;
		} else if (kind == K_ROOT) {
			snprintf(name, sizeof(name), "r%ld", index - 3);
			st.st_ino = (fuse_ino_t)(index - 3 + 1) << SHIFT;
			st.st_mode = S_IFDIR;
		} else {
			snprintf(name, sizeof(name), "%s", files[index - 2]);
			st.st_ino = (fuse_ino_t)(slot + 1) << SHIFT | (fuse_ino_t)(index - 2 + 1);
			st.st_mode = S_IFREG;
		}
		size_t needed = fuse_add_direntry(req, buffer + used, size - used, name, &st, index + 1);
		if (needed > size - used)
			break;
		used += needed;
	}
	fuse_reply_buf(req, buffer, used);
	free(buffer);
}

static const struct fuse_lowlevel_ops operations = {
	.init = fl_init,
	.lookup = fl_lookup,
	.getattr = fl_getattr,
	.setattr = fl_setattr,
	.open = fl_open,
	.read = fl_read,
	.write = fl_write,
	.flush = fl_flush,
	.release = fl_release,
	.readdir = fl_readdir,
};

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "flush") != 0)) {
		fprintf(stderr, "usage: floor MOUNTPOINT NRECORDERS [flush]\n");
		return 2;
	}
	send_flush = argc == 4;
	char *end;
	recorders = strtol(argv[2], &end, 10);
	if (*end != 0 || recorders < 1 || recorders > 100000) {
		fprintf(stderr, "floor: NRECORDERS must be a number from 1 to 100000\n");
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &mount_time);

	char *options[] = {"floor", "-o", "default_permissions,fsname=floor,subtype=floor", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, options);
	struct fuse_session *se = fuse_session_new(&args, &operations, sizeof(operations), NULL);
	if (se == NULL)
		return 1;
	int rc = 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, argv[1]) != 0)
		goto out_handlers;
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	if (config != NULL) {
		fuse_loop_cfg_set_clone_fd(config, 0);
		fuse_loop_cfg_set_max_threads(config, 64);
		fuse_loop_cfg_set_idle_threads(config, 4);
		rc = fuse_session_loop_mt(se, config) == 0 ? 0 : 1;
		fuse_loop_cfg_destroy(config);
	}
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return rc;
}
