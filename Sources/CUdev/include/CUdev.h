#ifndef RECORDERFS_CUDEV_H
#define RECORDERFS_CUDEV_H

#include <libudev.h>

/// Loads libudev (once; the binary does not link it, udev.c): NULL when it
/// is loaded, else why it cannot be. `udev_new` loads it too, and answers
/// NULL (errno ELIBACC) if it cannot.
const char *rfs_udev_load(void);

#endif
