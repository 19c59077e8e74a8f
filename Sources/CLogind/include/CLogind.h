#ifndef RECORDERFS_CLOGIND_H
#define RECORDERFS_CLOGIND_H

#include <stddef.h>

/// Takes a logind inhibitor over the system bus (sd-bus, which honours
/// $DBUS_SYSTEM_BUS_ADDRESS): org.freedesktop.login1.Manager.Inhibit(what,
/// who, why, mode). Returns the inhibitor's descriptor (close-on-exec): the
/// inhibitor lasts until it is closed, or until the process dies. On failure
/// returns -1 and puts one sentence in `error`.
int rfs_logind_inhibit(const char *what, const char *who, const char *why, const char *mode,
                       char *error, size_t error_size);

#endif
