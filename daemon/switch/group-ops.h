/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The kernel operations on one IOMMU group that the switch and the
 * start-up recovery share: read the group's type, devices and drivers
 * fresh from sysfs, unbind a device, bind it back, write the type. Reads
 * go through sysfs.h relative to the context's sysfs root; every write goes
 * through kernel_write().
 *
 * Functions that act append one line in words per thing they did to
 * *steps (a strv; steps may be NULL), e.g. "unbound 0000:01:00.0 from nvme".
 */

#include <stdbool.h>
#include <stddef.h>

#include "kernel-write.h"
#include "topology.h"

typedef struct GroupDevice {
        char *name;   /* 0000:01:00.0, or a platform device name */
        char *driver; /* bound driver, NULL when none */
        bool is_pci;  /* listed under bus/pci/devices */
} GroupDevice;

typedef struct GroupState {
        unsigned group;
        GroupType type;
        char type_raw[32];     /* as read */
        GroupDevice *devices;  /* sorted by name */
        size_t n_devices;
} GroupState;

/* Reads kernel/iommu_groups/<group>/{type,devices/} and each device's
 * driver link. Returns 0, -ENOENT when the group does not exist, or -errno
 * (the type unreadable, -ENOMEM). */
int group_state_read(int sysfs_fd, unsigned group, GroupState *ret);
void group_state_done(GroupState *s);

/* Reads the group's type. raw (may be NULL) receives the string read. */
int group_read_type(int sysfs_fd, unsigned group, GroupType *ret, char *raw, size_t size);

/* The driver bound to a PCI device: 0 with *ret NULL when none, 0 with a
 * new string, -ENODEV when the device is gone, -errno otherwise. */
int device_read_driver(int sysfs_fd, const char *bdf, char **ret);

/* 1 when a PCI device is no longer in sysfs (hot-removed), 0 otherwise. */
int device_gone(int sysfs_fd, const char *bdf);

/* A device or driver name safe to put in a path: [A-Za-z0-9:._-], not "."
 * or "..", shorter than 64. Names come from readdir and from intent
 * records on disk; both are checked before use. */
bool sysfs_name_ok(const char *s);

/* The types this daemon switches a group between: DMA, DMA-FQ, identity. */
bool group_type_switchable(GroupType t);

/* Writes the group's type ("DMA", "DMA-FQ", "identity"). n_devices, the
 * group's size, only chooses the words for a failure. */
int group_write_type(SwitchContext *ctx, unsigned group, GroupType type, size_t n_devices,
                     char ***steps);

/* Unbinds a PCI device from driver and checks that the driver link is
 * gone. A device already without a driver counts as unbound (0). */
int device_unbind(SwitchContext *ctx, const char *bdf, const char *driver, char ***steps);

/* Binds a PCI device to driver: writes bus/pci/drivers/<driver>/bind, and
 * when that does not leave it bound, bus/pci/drivers_probe. Returns 0 when
 * the device ends with a driver; *ret_driver (may be NULL) receives the
 * driver it ended with, which may differ from the one asked for. Returns
 * the first write's error (or -ENODEV when the writes succeeded but no
 * driver took the device) when it stays unbound. */
int device_bind(SwitchContext *ctx, const char *bdf, const char *driver, char ***steps,
                char **ret_driver);

/* The one rebind routine of the switch, its rollback and recovery: binds a
 * PCI device back to driver, the one it had when the switch began. Nothing
 * to do (0) when it had none (driver NULL), when it is bound now, or when
 * it is gone (hot-removed: "<bdf> is gone; nothing to bind" in *steps).
 * Else device_bind()'s answer. */
int device_bind_back(SwitchContext *ctx, const char *bdf, const char *driver, char ***steps);

/* What an error from writing a group's type means, in words, with the
 * kernel versions it is known from. n_devices is the group's size. */
const char *group_type_error_explain(int error, size_t n_devices);
/* The same for bind, unbind and drivers_probe. */
const char *bind_error_explain(int error);

/* Appends a formatted line to *steps (no-op when steps is NULL). 0 or
 * -ENOMEM. */
int steps_add(char ***steps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
