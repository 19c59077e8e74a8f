#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include "CLinux.h"

const short RFS_POSIX_SPAWN_SETSID = POSIX_SPAWN_SETSID;

// Swift fills struct loop_config field by field; these are the layouts it relies on.
_Static_assert(sizeof(struct loop_config) == 304, "struct loop_config: fd, block_size, loop_info64, 8 reserved");
_Static_assert(sizeof(dev_t) == 8, "dev_t is 64 bits, as st_rdev");

void rfs_name_this_thread(const char *name)
{
    pthread_setname_np(pthread_self(), name);
}
