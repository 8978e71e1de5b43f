/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Test support for the switch engine: a small sysfs tree in a temp
 * directory laid out as the kernel lays it out (tests/fixtures/
 * gen-server-fixture), and a model of the kernel behind the write hook
 * (kernel-write.h) that reacts to writes as the kernel does:
 *   - drivers/D/unbind removes the device's driver link (-ENODEV when it
 *     is not bound to D);
 *   - drivers/D/bind links it again (-EBUSY when bound, -ENODEV when D does
 *     not match it, -ENXIO when its probe fails);
 *   - drivers_probe binds the matching driver, and succeeds even when none
 *     takes the device;
 *   - kernel/iommu_groups/N/type as 6.1 (more than one device: -EINVAL;
 *     bound and not DMA -> DMA-FQ: -EBUSY) or as 6.4+ (DMA -> DMA-FQ live,
 *     else bound: -EPERM), -EACCES for a file without write bits (kernfs),
 *     and optionally a DMA-FQ that silently stays DMA;
 *   - optionally, devices hot-removed just before a type write (their
 *     group's directory goes with its last device, as on the kernel), and
 *     a device that loses its driver while another device of its group is
 *     bound.
 * State directory writes are carried out for real.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "intent-log.h"
#include "kernel-write.h"

#define SIM_MAX_DEVICES 16

typedef struct SimDevice {
        char bdf[32];
        char match[32];      /* the driver that takes it on probe; "" none */
        unsigned group;
        bool platform;       /* not a PCI device */
        bool removed;        /* hot-removed (sim_remove_device()) */
} SimDevice;

typedef struct Sim {
        char root[256];
        int sys_fd;          /* root/sys, O_PATH */
        int state_fd;        /* root/state, O_RDONLY */
        int version;         /* 601 or 604 */
        bool fq_silently_dma;      /* a new DMA-FQ domain comes up as DMA */
        bool live_fq_silently_dma; /* the live DMA -> DMA-FQ leaves DMA and says nothing */
        char probe_fails_under[16];/* probing fails while the device's group has this type; "any" */
        char probe_fails_bdf[32];  /* ... for this device only; "" for all */
        bool bind_file_fails;      /* drivers/D/bind says -ENODEV; drivers_probe still works */
        char race_bind_bdf[32];    /* bound again just before a type write (a race) */
        char gone_after_unbind[32];/* hot-removed right after its unbind */
        unsigned type_fail_from;   /* the nth type write and later fail with type_fail_errno */
        int type_fail_errno;
        unsigned type_writes;
        char remove_bdfs[128];     /* comma-separated: hot-removed (sim_remove_device()) just before ... */
        unsigned remove_at_type_write; /* ... the nth type write that reaches the model (1: the first) */
        unsigned type_calls;       /* type writes that reached the model */
        char drops_on_bind[32];    /* loses its driver when another device of its group is bound */
        bool drop_sticks;          /* ... and no driver takes it afterwards */
        unsigned drops;            /* times drops_on_bind lost its driver */
        unsigned writes;           /* hook calls seen */
        char **log;                /* "write PATH VALUE", "replace NAME", ... per hook call */
        SimDevice devices[SIM_MAX_DEVICES];
        unsigned n_devices;
} Sim;

/* Creates an empty tree under $TMPDIR (sys/, state/, bus/pci/drivers_probe). */
void sim_init(Sim *s, int version);
void sim_destroy(Sim *s);
void sim_add_group(Sim *s, unsigned group, const char *type);
/* A PCI device in group; driver NULL leaves it unbound; match is the driver
 * that takes it on probe (NULL: the same as driver). */
void sim_add_device(Sim *s, unsigned group, const char *bdf, const char *driver, const char *match,
                    bool untrusted);
/* A platform device (not under bus/pci) bound to driver. */
void sim_add_platform_device(Sim *s, unsigned group, const char *name, const char *driver);
/* Hot-removes a PCI device as the kernel does: its driver is unbound, it
 * leaves bus/pci/devices, devices/ and its group; the group's directory
 * goes with its last device. */
void sim_remove_device(Sim *s, const char *bdf);

/* The kernel model, for SwitchContext.hook with the Sim as userdata. */
int sim_hook(void *userdata, unsigned step, KernelWriteKind kind, const char *path, const char *value);
/* A context over the sim with the hook set. */
void sim_context(Sim *s, SwitchContext *ctx);

/* The driver a device is bound to now, "" when none (static buffer). */
const char *sim_driver(Sim *s, const char *bdf);
/* The group's type as the file reads (static buffer). */
const char *sim_type(Sim *s, unsigned group);
void sim_set_type(Sim *s, unsigned group, const char *type);
/* Binds or unbinds behind the engine's back. */
void sim_bind(Sim *s, const char *bdf, const char *driver);
void sim_unbind(Sim *s, const char *bdf);
bool sim_state_exists(Sim *s, const char *name);
/* Whether a hook call's log line contains needle. */
bool sim_logged(Sim *s, const char *needle);
/* Number of entries in the state directory. */
unsigned sim_state_count(Sim *s);
void sim_write_state(Sim *s, const char *name, const char *content);

/* A record of one device's switch (the caller frees it with
 * intent_record_done()). */
static inline IntentRecord one_device_record(unsigned group, const char *from, const char *to, const char *bdf,
                                             const char *driver, IntentStep step) {
        IntentRecord r = { .group = group, .old_type = group_type_from_string(from),
                           .new_type = group_type_from_string(to), .step = step };

        r.devices = calloc(1, sizeof(IntentDevice));
        r.devices[0].bdf = strdup(bdf);
        r.devices[0].driver = driver ? strdup(driver) : NULL;
        r.n_devices = 1;
        return r;
}
