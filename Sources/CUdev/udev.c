// libudev, loaded when the daemon first needs it (dlopen), so that the
// binary does not depend on it: only the daemon's discovery and hotplug
// use it. Each libudev function recorderfs calls is defined here under its
// own name, hidden from the dynamic symbol table, and calls the library's
// own through a pointer taken with dlvsym at the version the linker would
// have bound (LIBUDEV_183). Every other function needs a `struct udev`,
// which only `udev_new` makes: it loads the library, or answers NULL.
#define _GNU_SOURCE /* dlvsym */
#include "CUdev.h"
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define RFS_UDEV_LIBRARY "libudev.so.1"
#define RFS_UDEV_VERSION "LIBUDEV_183"

// F(return type, name, parameters, arguments)
#define RFS_UDEV_FUNCTIONS(F) \
    F(const char *, udev_device_get_action, (struct udev_device *device), (device)) \
    F(const char *, udev_device_get_devnode, (struct udev_device *device), (device)) \
    F(const char *, udev_device_get_devtype, (struct udev_device *device), (device)) \
    F(int, udev_device_get_is_initialized, (struct udev_device *device), (device)) \
    F(struct udev_device *, udev_device_get_parent_with_subsystem_devtype, \
      (struct udev_device *device, const char *subsystem, const char *devtype), (device, subsystem, devtype)) \
    F(struct udev_list_entry *, udev_device_get_properties_list_entry, (struct udev_device *device), (device)) \
    F(const char *, udev_device_get_sysattr_value, (struct udev_device *device, const char *sysattr), \
      (device, sysattr)) \
    F(const char *, udev_device_get_sysname, (struct udev_device *device), (device)) \
    F(const char *, udev_device_get_syspath, (struct udev_device *device), (device)) \
    F(struct udev_device *, udev_device_new_from_devnum, (struct udev *udev, char type, dev_t devnum), \
      (udev, type, devnum)) \
    F(struct udev_device *, udev_device_new_from_syspath, (struct udev *udev, const char *syspath), (udev, syspath)) \
    F(struct udev_device *, udev_device_unref, (struct udev_device *device), (device)) \
    F(int, udev_enumerate_add_match_subsystem, (struct udev_enumerate *enumerate, const char *subsystem), \
      (enumerate, subsystem)) \
    F(struct udev_list_entry *, udev_enumerate_get_list_entry, (struct udev_enumerate *enumerate), (enumerate)) \
    F(struct udev_enumerate *, udev_enumerate_new, (struct udev *udev), (udev)) \
    F(int, udev_enumerate_scan_devices, (struct udev_enumerate *enumerate), (enumerate)) \
    F(struct udev_enumerate *, udev_enumerate_unref, (struct udev_enumerate *enumerate), (enumerate)) \
    F(const char *, udev_list_entry_get_name, (struct udev_list_entry *entry), (entry)) \
    F(struct udev_list_entry *, udev_list_entry_get_next, (struct udev_list_entry *entry), (entry)) \
    F(const char *, udev_list_entry_get_value, (struct udev_list_entry *entry), (entry)) \
    F(int, udev_monitor_enable_receiving, (struct udev_monitor *monitor), (monitor)) \
    F(int, udev_monitor_filter_add_match_subsystem_devtype, \
      (struct udev_monitor *monitor, const char *subsystem, const char *devtype), (monitor, subsystem, devtype)) \
    F(int, udev_monitor_get_fd, (struct udev_monitor *monitor), (monitor)) \
    F(struct udev_monitor *, udev_monitor_new_from_netlink, (struct udev *udev, const char *name), (udev, name)) \
    F(struct udev_device *, udev_monitor_receive_device, (struct udev_monitor *monitor), (monitor)) \
    F(struct udev_monitor *, udev_monitor_unref, (struct udev_monitor *monitor), (monitor)) \
    F(struct udev *, udev_unref, (struct udev *udev), (udev))

#define RFS_POINTER(type, name, parameters, arguments) type (*name) parameters;

static struct {
    RFS_UDEV_FUNCTIONS(RFS_POINTER)
    struct udev *(*udev_new)(void);
    int loaded;
    char failure[256];
} libudev;

static pthread_once_t udev_once = PTHREAD_ONCE_INIT;

static void load_udev(void) {
    void *library = dlopen(RFS_UDEV_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(libudev.failure, sizeof libudev.failure, "cannot load %s (%s)", RFS_UDEV_LIBRARY, dlerror());
        return;
    }
    const char *missing = NULL;
#define RFS_LOOK_UP(type, name, parameters, arguments) \
    if (!(*(void **)&libudev.name = dlvsym(library, #name, RFS_UDEV_VERSION)) && !missing) missing = #name;
    RFS_UDEV_FUNCTIONS(RFS_LOOK_UP)
    RFS_LOOK_UP(struct udev *, udev_new, (void), ())
    if (missing) {
        snprintf(libudev.failure, sizeof libudev.failure, "%s lacks %s@%s", RFS_UDEV_LIBRARY, missing, RFS_UDEV_VERSION);
        return;
    }
    __atomic_store_n(&libudev.loaded, 1, __ATOMIC_RELEASE);
}

const char *rfs_udev_load(void) {
    pthread_once(&udev_once, load_udev);
    return __atomic_load_n(&libudev.loaded, __ATOMIC_ACQUIRE) ? NULL : libudev.failure;
}

__attribute__((visibility("hidden"))) struct udev *udev_new(void) {
    if (rfs_udev_load()) {
        errno = ELIBACC;
        return NULL;
    }
    return libudev.udev_new();
}

// Reached only with an object `udev_new` made, so the library is loaded.
#define RFS_FORWARD(type, name, parameters, arguments) \
    __attribute__((visibility("hidden"))) type name parameters { return libudev.name arguments; }

RFS_UDEV_FUNCTIONS(RFS_FORWARD)
