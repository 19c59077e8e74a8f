// libfuse3, loaded when the daemon first needs it (dlopen), so that the
// binary does not depend on it: `hold`, `status`, `wait` and `unmount` start
// without loading it (and run in a container that lacks it). Each libfuse
// function recorderfs calls is defined here under its own name, hidden from
// the dynamic symbol table, and calls the library's own through a pointer
// taken with dlvsym at the version the headers name (FUSE_3.0), as the
// linker would have bound it.
#define _GNU_SOURCE /* dlvsym */
#include "CFuseShim.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define RFS_FUSE_LIBRARY "libfuse3.so.3"
#define RFS_FUSE_VERSION "FUSE_3.0"

// F(return type, name, parameters, arguments); V(...) for void functions.
#define RFS_FUSE_FUNCTIONS(F, V) \
    F(size_t, fuse_add_direntry, (fuse_req_t req, char *buf, size_t bufsize, const char *name, \
                                  const struct stat *stbuf, off_t off), (req, buf, bufsize, name, stbuf, off)) \
    F(int, fuse_lowlevel_notify_delete, (struct fuse_session *se, fuse_ino_t parent, fuse_ino_t child, \
                                         const char *name, size_t namelen), (se, parent, child, name, namelen)) \
    F(int, fuse_lowlevel_notify_inval_entry, (struct fuse_session *se, fuse_ino_t parent, const char *name, \
                                              size_t namelen), (se, parent, name, namelen)) \
    F(int, fuse_lowlevel_notify_inval_inode, (struct fuse_session *se, fuse_ino_t ino, off_t off, off_t len), \
      (se, ino, off, len)) \
    F(int, fuse_lowlevel_notify_poll, (struct fuse_pollhandle *ph), (ph)) \
    V(fuse_opt_free_args, (struct fuse_args *args), (args)) \
    F(const char *, fuse_pkgversion, (void), ()) \
    V(fuse_pollhandle_destroy, (struct fuse_pollhandle *ph), (ph)) \
    V(fuse_remove_signal_handlers, (struct fuse_session *se), (se)) \
    F(int, fuse_reply_attr, (fuse_req_t req, const struct stat *attr, double attr_timeout), (req, attr, attr_timeout)) \
    F(int, fuse_reply_buf, (fuse_req_t req, const char *buf, size_t size), (req, buf, size)) \
    F(int, fuse_reply_entry, (fuse_req_t req, const struct fuse_entry_param *e), (req, e)) \
    F(int, fuse_reply_err, (fuse_req_t req, int err), (req, err)) \
    F(int, fuse_reply_iov, (fuse_req_t req, const struct iovec *iov, int count), (req, iov, count)) \
    F(int, fuse_reply_open, (fuse_req_t req, const struct fuse_file_info *fi), (req, fi)) \
    F(int, fuse_reply_poll, (fuse_req_t req, unsigned revents), (req, revents)) \
    F(int, fuse_reply_readlink, (fuse_req_t req, const char *link), (req, link)) \
    F(int, fuse_reply_write, (fuse_req_t req, size_t count), (req, count)) \
    F(const struct fuse_ctx *, fuse_req_ctx, (fuse_req_t req), (req)) \
    V(fuse_reply_none, (fuse_req_t req), (req)) \
    V(fuse_req_interrupt_func, (fuse_req_t req, fuse_interrupt_func_t func, void *data), (req, func, data)) \
    F(void *, fuse_req_userdata, (fuse_req_t req), (req)) \
    V(fuse_session_destroy, (struct fuse_session *se), (se)) \
    V(fuse_session_exit, (struct fuse_session *se), (se)) \
    F(int, fuse_session_exited, (struct fuse_session *se), (se)) \
    F(int, fuse_session_mount, (struct fuse_session *se, const char *mountpoint), (se, mountpoint)) \
    F(struct fuse_session *, fuse_session_new, (struct fuse_args *args, const struct fuse_lowlevel_ops *op, \
                                                size_t op_size, void *userdata), (args, op, op_size, userdata)) \
    V(fuse_session_process_buf, (struct fuse_session *se, const struct fuse_buf *buf), (se, buf)) \
    F(int, fuse_session_receive_buf, (struct fuse_session *se, struct fuse_buf *buf), (se, buf)) \
    V(fuse_session_reset, (struct fuse_session *se), (se)) \
    V(fuse_session_unmount, (struct fuse_session *se), (se)) \
    F(int, fuse_set_signal_handlers, (struct fuse_session *se), (se))

#define RFS_POINTER(type, name, parameters, arguments) type (*name) parameters;
#define RFS_VOID_POINTER(name, parameters, arguments) void (*name) parameters;

static struct {
    RFS_FUSE_FUNCTIONS(RFS_POINTER, RFS_VOID_POINTER)
    int loaded;
    char failure[256];
} fuse;

static pthread_once_t fuse_once = PTHREAD_ONCE_INIT;

static void load_fuse(void) {
    void *library = dlopen(RFS_FUSE_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(fuse.failure, sizeof fuse.failure, "cannot load %s (%s)", RFS_FUSE_LIBRARY, dlerror());
        return;
    }
    const char *missing = NULL;
#define RFS_LOOK_UP(name) \
    if (!(*(void **)&fuse.name = dlvsym(library, #name, RFS_FUSE_VERSION)) && !missing) missing = #name;
#define RFS_LOOK_UP_FUNCTION(type, name, parameters, arguments) RFS_LOOK_UP(name)
#define RFS_LOOK_UP_VOID(name, parameters, arguments) RFS_LOOK_UP(name)
    RFS_FUSE_FUNCTIONS(RFS_LOOK_UP_FUNCTION, RFS_LOOK_UP_VOID)
    if (missing) {
        snprintf(fuse.failure, sizeof fuse.failure, "%s lacks %s@%s", RFS_FUSE_LIBRARY, missing, RFS_FUSE_VERSION);
        return;
    }
    __atomic_store_n(&fuse.loaded, 1, __ATOMIC_RELEASE);
}

const char *rfs_fuse_load(void) {
    pthread_once(&fuse_once, load_fuse);
    return __atomic_load_n(&fuse.loaded, __ATOMIC_ACQUIRE) ? NULL : fuse.failure;
}

/// A libfuse function called before the daemon loaded the library (which
/// reports a failure itself): loads it now, or ends the process saying why.
static void require_fuse(void) {
    const char *failure = rfs_fuse_load();
    if (failure) {
        fprintf(stderr, "recorderfs: %s\n", failure);
        abort();
    }
}

#define RFS_REQUIRE() \
    if (__builtin_expect(!__atomic_load_n(&fuse.loaded, __ATOMIC_ACQUIRE), 0)) require_fuse()
#define RFS_FORWARD(type, name, parameters, arguments) \
    __attribute__((visibility("hidden"))) type name parameters { RFS_REQUIRE(); return fuse.name arguments; }
#define RFS_FORWARD_VOID(name, parameters, arguments) \
    __attribute__((visibility("hidden"))) void name parameters { RFS_REQUIRE(); fuse.name arguments; }

RFS_FUSE_FUNCTIONS(RFS_FORWARD, RFS_FORWARD_VOID)
