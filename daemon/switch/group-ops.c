/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "group-ops.h"
#include "log.h"
#include "sysfs.h"
#include "util.h"

int steps_add(char ***steps, const char *fmt, ...) {
        char line[1024];
        va_list ap;

        if (!steps)
                return 0;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        return strv_extend(steps, line);
}

bool sysfs_name_ok(const char *s) {
        size_t n;

        if (isempty(s) || streq(s, ".") || streq(s, ".."))
                return false;
        n = strlen(s);
        if (n >= 64)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == ':' || c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

int group_read_type(int sysfs_fd, unsigned group, GroupType *ret, char *raw, size_t size) {
        char path[96], buf[64];
        int r;

        snprintf(path, sizeof(path), "kernel/iommu_groups/%u/type", group);
        r = sysfs_read_attr(sysfs_fd, path, buf, sizeof(buf));
        if (r < 0)
                return r;
        if (raw && size > 0)
                snprintf(raw, size, "%s", buf);
        *ret = group_type_from_string(buf);
        return 0;
}

static int read_link_driver(int sysfs_fd, const char *path, char **ret) {
        char name[256];
        int r;

        r = sysfs_read_link_name(sysfs_fd, path, name, sizeof(name));
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        if (!sysfs_name_ok(name))
                return -EBADMSG;
        *ret = strdup(name);
        return *ret ? 0 : -ENOMEM;
}

int device_read_driver(int sysfs_fd, const char *bdf, char **ret) {
        char path[160];

        if (!sysfs_name_ok(bdf))
                return -EINVAL;
        snprintf(path, sizeof(path), "bus/pci/devices/%s", bdf);
        if (!sysfs_exists(sysfs_fd, path))
                return -ENODEV;
        snprintf(path, sizeof(path), "bus/pci/devices/%s/driver", bdf);
        return read_link_driver(sysfs_fd, path, ret);
}

int device_gone(int sysfs_fd, const char *bdf) {
        char path[160];

        if (!sysfs_name_ok(bdf))
                return 0;
        snprintf(path, sizeof(path), "bus/pci/devices/%s", bdf);
        return sysfs_exists(sysfs_fd, path) == 0;
}

void group_state_done(GroupState *s) {
        for (size_t i = 0; i < s->n_devices; i++) {
                free(s->devices[i].name);
                free(s->devices[i].driver);
        }
        free(s->devices);
        *s = (GroupState) {};
}

int group_state_read(int sysfs_fd, unsigned group, GroupState *ret) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(group_state_done) GroupState s = { .group = group };
        char path[160];
        int r;

        r = group_read_type(sysfs_fd, group, &s.type, s.type_raw, sizeof(s.type_raw));
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "kernel/iommu_groups/%u/devices", group);
        r = sysfs_list_dir(sysfs_fd, path, &names);
        if (r < 0)
                return r;
        s.devices = calloc(strv_length(names) + 1, sizeof(GroupDevice));
        if (!s.devices)
                return -ENOMEM;
        for (char **n = names; *n; n++) {
                GroupDevice *d = s.devices + s.n_devices;

                if (!sysfs_name_ok(*n))
                        return -EBADMSG;
                if (!(d->name = strdup(*n)))
                        return -ENOMEM;
                s.n_devices++;
                snprintf(path, sizeof(path), "bus/pci/devices/%s", *n);
                d->is_pci = sysfs_exists(sysfs_fd, path) > 0;
                if (d->is_pci)
                        r = device_read_driver(sysfs_fd, *n, &d->driver);
                else {
                        snprintf(path, sizeof(path), "kernel/iommu_groups/%u/devices/%s/driver", group, *n);
                        r = read_link_driver(sysfs_fd, path, &d->driver);
                }
                if (r < 0)
                        return r;
        }
        *ret = s;
        s = (GroupState) {};
        return 0;
}

bool group_type_switchable(GroupType t) {
        return t == GROUP_TYPE_DMA || t == GROUP_TYPE_DMA_FQ || t == GROUP_TYPE_IDENTITY;
}

int group_write_type(SwitchContext *ctx, unsigned group, GroupType type, size_t n_devices,
                     char ***steps) {
        const char *value = group_type_to_string(type);
        char path[96];
        int r;

        if (!group_type_switchable(type))
                return -EINVAL;
        snprintf(path, sizeof(path), "kernel/iommu_groups/%u/type", group);
        r = kernel_write(ctx, KERNEL_WRITE_ATTR, path, value);
        if (r < 0) {
                const char *why = group_type_error_explain(r, n_devices);

                steps_add(steps, "writing %s to group %u's type failed: %s", value, group,
                          why ? why : strerror(-r));
                return r;
        }
        steps_add(steps, "wrote %s to group %u's type", value, group);
        return 0;
}

int device_unbind(SwitchContext *ctx, const char *bdf, const char *driver, char ***steps) {
        _cleanup_free_ char *now = NULL;
        char path[160];
        int r, q;

        if (!sysfs_name_ok(bdf) || !sysfs_name_ok(driver))
                return -EINVAL;
        snprintf(path, sizeof(path), "bus/pci/drivers/%s/unbind", driver);
        r = kernel_write(ctx, KERNEL_WRITE_ATTR, path, bdf);
        /* Whatever the write said, the driver link tells whether the
         * device is unbound now. */
        q = device_read_driver(ctx->sysfs_fd, bdf, &now);
        if (q == -ENODEV) {
                steps_add(steps, "%s is gone (hot-removed); it has no driver to unbind", bdf);
                return 0;
        }
        if (q == 0 && !now) {
                if (r < 0)
                        steps_add(steps, "%s was unbound already (%s said %s)", bdf, path, strerror(-r));
                else
                        steps_add(steps, "unbound %s from %s", bdf, driver);
                return 0;
        }
        if (r >= 0)
                r = q < 0 ? q : -EBUSY;
        {
                const char *why = bind_error_explain(r);

                steps_add(steps, "unbinding %s from %s failed: %s", bdf, driver, why ? why : strerror(-r));
        }
        return r;
}

int device_bind(SwitchContext *ctx, const char *bdf, const char *driver, char ***steps,
                char **ret_driver) {
        _cleanup_free_ char *now = NULL;
        char path[160];
        int r, first = 0;

        if (!sysfs_name_ok(bdf) || (driver && !sysfs_name_ok(driver)))
                return -EINVAL;
        r = device_read_driver(ctx->sysfs_fd, bdf, &now);
        if (r < 0) {
                steps_add(steps, "cannot bind %s: %s", bdf,
                          r == -ENODEV ? "the device is gone" : strerror(-r));
                return r;
        }
        if (!now && driver) {
                snprintf(path, sizeof(path), "bus/pci/drivers/%s/bind", driver);
                first = kernel_write(ctx, KERNEL_WRITE_ATTR, path, bdf);
                r = device_read_driver(ctx->sysfs_fd, bdf, &now);
                if (r < 0)
                        return r;
                if (!now) {
                        const char *why = bind_error_explain(first);

                        steps_add(steps, "binding %s to %s did not take (%s); trying drivers_probe", bdf, driver,
                                  first < 0 ? (why ? why : strerror(-first)) : "no error, but no driver");
                }
        }
        if (!now) {
                /* drivers_probe succeeds even when no driver takes the
                 * device; only the link tells. */
                r = kernel_write(ctx, KERNEL_WRITE_ATTR, "bus/pci/drivers_probe", bdf);
                if (r < 0 && first == 0)
                        first = r;
                r = device_read_driver(ctx->sysfs_fd, bdf, &now);
                if (r < 0)
                        return r;
                if (!now) {
                        if (first == 0)
                                first = -ENODEV;
                        steps_add(steps, "%s is still without a driver after drivers_probe", bdf);
                        return first;
                }
        }
        if (driver && !streq(now, driver))
                steps_add(steps, "%s is bound to %s, not %s as before", bdf, now, driver);
        else
                steps_add(steps, "bound %s to %s", bdf, now);
        if (ret_driver)
                *ret_driver = TAKE_PTR(now);
        return 0;
}

int device_bind_back(SwitchContext *ctx, const char *bdf, const char *driver, char ***steps) {
        _cleanup_free_ char *now = NULL;
        int r;

        if (!driver)
                return 0;
        r = device_read_driver(ctx->sysfs_fd, bdf, &now);
        if (r == -ENODEV) {
                steps_add(steps, "%s is gone; nothing to bind", bdf);
                return 0;
        }
        if (r == 0 && now)
                return 0;
        return device_bind(ctx, bdf, driver, steps, NULL);
}

const char *group_type_error_explain(int error, size_t n_devices) {
        switch (error < 0 ? -error : error) {
        case EBUSY:
                return "the kernel refused the type change while a driver is bound, or while the group "
                       "is not on its default domain (owned by VFIO, for example) (EBUSY, kernels up to "
                       "about 6.3)";
        case EPERM:
                return "the kernel refused the type change because a driver is still bound or another "
                       "DMA owner such as VFIO holds the group (EPERM, kernels from about 6.4)";
        case EINVAL:
                if (n_devices > 1)
                        return "the kernel refused the type change: before about 6.4 a group with more "
                               "than one device cannot change its type; or a driver or an untrusted device "
                               "requires another type (EINVAL)";
                return "the kernel refused the type: a driver or the IOMMU requires another domain type "
                       "for this device, the device is untrusted, the group has no default domain, or the "
                       "kernel does not know the type (DMA-FQ needs 5.15) (EINVAL)";
        case EACCES:
                return "the kernel refused the write: changing a group's type needs CAP_SYS_ADMIN and "
                       "CAP_SYS_RAWIO, and the type file is read-only before 5.11 (EACCES)";
        case ENOMEM:
                return "the kernel could not allocate the new domain or its flush queue (ENOMEM)";
        case ENODEV:
                return "the group's device or IOMMU went away (ENODEV)";
        case ENOENT:
                return "the group or its type file does not exist (ENOENT)";
        case EROFS:
                return "sysfs is mounted read-only (EROFS)";
        default:
                return NULL;
        }
}

const char *bind_error_explain(int error) {
        switch (error < 0 ? -error : error) {
        case ENODEV:
                return "the device is gone, or the driver does not match it (ENODEV)";
        case EBUSY:
                return "the device is bound to a driver (EBUSY)";
        case ENOENT:
                return "the driver is not loaded: it has no bind or unbind file (ENOENT)";
        case EACCES:
        case EPERM:
                return "not allowed to write the driver's bind or unbind file (needs root) (EACCES/EPERM)";
        case EROFS:
                return "sysfs is mounted read-only (EROFS)";
        default:
                return NULL;
        }
}
