#include "CLogind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

/// How long a call to logind may take: a hung logind must not keep a lock's
/// inhibitor worker forever.
#define RFS_LOGIND_TIMEOUT_USEC (5 * 1000 * 1000ULL)

int rfs_logind_inhibit(const char *what, const char *who, const char *why, const char *mode,
                       char *error, size_t error_size) {
    sd_bus *bus = NULL;
    sd_bus_message *reply = NULL;
    sd_bus_error bus_error = SD_BUS_ERROR_NULL;
    int result = -1;

    int r = sd_bus_open_system(&bus);
    if (r < 0) {
        snprintf(error, error_size, "cannot connect to the system bus: %s", strerror(-r));
        return -1;
    }
    (void)sd_bus_set_method_call_timeout(bus, RFS_LOGIND_TIMEOUT_USEC);
    r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
                           "org.freedesktop.login1.Manager", "Inhibit", &bus_error, &reply,
                           "ssss", what, who, why, mode);
    if (r < 0) {
        snprintf(error, error_size, "logind's Inhibit failed: %s",
                 bus_error.message ? bus_error.message : strerror(-r));
        goto out;
    }
    int received = -1;
    r = sd_bus_message_read(reply, "h", &received);
    if (r < 0) {
        snprintf(error, error_size, "logind's Inhibit answered no descriptor: %s", strerror(-r));
        goto out;
    }
    // The message owns `received`: keep a copy of our own.
    result = fcntl(received, F_DUPFD_CLOEXEC, 3);
    if (result < 0) snprintf(error, error_size, "cannot keep the inhibitor's descriptor: %s", strerror(errno));
out:
    sd_bus_error_free(&bus_error);
    sd_bus_message_unref(reply);
    sd_bus_flush_close_unref(bus);
    return result;
}
