#include "CLogind.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

/// How long a call to logind may take: a hung logind must not keep a lock's
/// inhibitor worker forever.
#define RFS_LOGIND_TIMEOUT_USEC (5 * 1000 * 1000ULL)

/// sd-bus, loaded when the first inhibitor is taken: the binary does not
/// need libsystemd to start, and only `--inhibit-sleep` needs it at all.
static struct {
    int (*open_system)(sd_bus **);
    int (*set_method_call_timeout)(sd_bus *, uint64_t);
    int (*call_method)(sd_bus *, const char *, const char *, const char *, const char *, sd_bus_error *,
                       sd_bus_message **, const char *, ...);
    int (*message_read)(sd_bus_message *, const char *, ...);
    void (*error_free)(sd_bus_error *);
    sd_bus_message *(*message_unref)(sd_bus_message *);
    sd_bus *(*flush_close_unref)(sd_bus *);
    const char *failure;
} sd;

static pthread_once_t sd_once = PTHREAD_ONCE_INIT;

static void load_sd_bus(void) {
    void *library = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        sd.failure = "libsystemd.so.0 cannot be loaded";
        return;
    }
    sd.open_system = dlsym(library, "sd_bus_open_system");
    sd.set_method_call_timeout = dlsym(library, "sd_bus_set_method_call_timeout");
    sd.call_method = dlsym(library, "sd_bus_call_method");
    sd.message_read = dlsym(library, "sd_bus_message_read");
    sd.error_free = dlsym(library, "sd_bus_error_free");
    sd.message_unref = dlsym(library, "sd_bus_message_unref");
    sd.flush_close_unref = dlsym(library, "sd_bus_flush_close_unref");
    if (!sd.open_system || !sd.call_method || !sd.message_read || !sd.error_free || !sd.message_unref
        || !sd.flush_close_unref) {
        sd.failure = "libsystemd.so.0 lacks sd-bus";
        sd.open_system = NULL;
    }
}

int rfs_logind_inhibit(const char *what, const char *who, const char *why, const char *mode,
                       char *error, size_t error_size) {
    pthread_once(&sd_once, load_sd_bus);
    if (!sd.open_system) {
        snprintf(error, error_size, "%s", sd.failure);
        return -1;
    }
    sd_bus *bus = NULL;
    sd_bus_message *reply = NULL;
    sd_bus_error bus_error = SD_BUS_ERROR_NULL;
    int result = -1;

    int r = sd.open_system(&bus);
    if (r < 0) {
        snprintf(error, error_size, "cannot connect to the system bus: %s", strerror(-r));
        return -1;
    }
    if (sd.set_method_call_timeout) (void)sd.set_method_call_timeout(bus, RFS_LOGIND_TIMEOUT_USEC);
    r = sd.call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                       "Inhibit", &bus_error, &reply, "ssss", what, who, why, mode);
    if (r < 0) {
        snprintf(error, error_size, "logind's Inhibit failed: %s", bus_error.message ? bus_error.message : strerror(-r));
        goto out;
    }
    int received = -1;
    r = sd.message_read(reply, "h", &received);
    if (r < 0) {
        snprintf(error, error_size, "logind's Inhibit answered no descriptor: %s", strerror(-r));
        goto out;
    }
    // The message owns `received`: keep a copy of our own.
    result = fcntl(received, F_DUPFD_CLOEXEC, 3);
    if (result < 0) snprintf(error, error_size, "cannot keep the inhibitor's descriptor: %s", strerror(errno));
out:
    sd.error_free(&bus_error);
    sd.message_unref(reply);
    sd.flush_close_unref(bus);
    return result;
}
