/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The configuration: iommutuned.conf plus conf.d/ drop-ins, parsed with inih.
 *
 * One table (conf_keys()) names every key with its section, type, range,
 * default and help text; parsing, the built-in defaults, error messages and
 * the shipped, commented file (config_write_template()) all come from it.
 *
 * Every value carries its origin (file:line and section, or "built-in
 * default"), so any effective setting of a device can be explained.
 *
 * Nothing here looks at the running system: group names are not resolved,
 * devices are not looked up. A Config is immutable once loaded.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What to do with a device. IDENTITY is only accepted in a [device]
 * section: bypassing translation is a decision about one named device. */
typedef enum PolicyMode {
        POLICY_MODE_AUTO,     /* switch by measured unmap rate */
        POLICY_MODE_STRICT,   /* "DMA" */
        POLICY_MODE_LAZY,     /* "DMA-FQ" */
        POLICY_MODE_KEEP,     /* leave whatever the kernel chose */
        POLICY_MODE_IDENTITY, /* "identity" */
        _POLICY_MODE_MAX,
        _POLICY_MODE_INVALID = -EINVAL,
} PolicyMode;

typedef enum DaemonMode {
        DAEMON_MODE_ENFORCE, /* apply decisions */
        DAEMON_MODE_ADVISE,  /* plan and report, never write */
        _DAEMON_MODE_MAX,
        _DAEMON_MODE_INVALID = -EINVAL,
} DaemonMode;

/* The name as written in the config, or NULL when out of range. */
const char *policy_mode_to_string(PolicyMode m);
/* Exact, lowercase names; _POLICY_MODE_INVALID (-EINVAL) for anything else.
 * Accepts "identity": whether it is allowed depends on the section. */
PolicyMode policy_mode_from_string(const char *s);
const char *daemon_mode_to_string(DaemonMode m);
DaemonMode daemon_mode_from_string(const char *s);

/* Where a value came from. CLASS < DRIVER < DEVICE is also their precedence. */
typedef enum ConfScope {
        CONF_SCOPE_UNSET,   /* not set (only inside a ConfSection) */
        CONF_SCOPE_BUILTIN, /* built-in default */
        CONF_SCOPE_DAEMON,  /* [daemon] */
        CONF_SCOPE_POLICY,  /* [policy] */
        CONF_SCOPE_CLASS,   /* [class WORD] */
        CONF_SCOPE_DRIVER,  /* [driver NAME] */
        CONF_SCOPE_DEVICE,  /* [device BDF] */
        _CONF_SCOPE_MAX,
} ConfScope;

/* "built-in", "daemon", "policy", "class", "driver", "device"; NULL for
 * UNSET or out of range. */
const char *conf_scope_to_string(ConfScope s);

typedef struct ConfOrigin {
        ConfScope scope;
        const char *section; /* CLASS/DRIVER/DEVICE: the word after the kind; else NULL */
        const char *file;    /* NULL for built-in defaults */
        unsigned line;       /* of the winning assignment; 0 for built-in */
} ConfOrigin;

typedef enum ConfType {
        CONF_TYPE_UINT,        /* decimal, within [min, max] */
        CONF_TYPE_BOOL,        /* yes/no/true/false/1/0/on/off, any case */
        CONF_TYPE_POLICY,      /* PolicyMode */
        CONF_TYPE_DAEMON_MODE, /* DaemonMode */
        CONF_TYPE_PATH,        /* absolute path of at most max characters */
        CONF_TYPE_GROUP,       /* a group name, or empty for "nobody" */
        _CONF_TYPE_MAX,
} ConfType;

/* One effective value. Which union member is valid follows from the key's
 * ConfType. Strings and origin pointers belong to the Config the value came
 * from and live as long as it does. */
typedef struct ConfValue {
        union {
                uint64_t u;        /* UINT */
                bool b;            /* BOOL */
                PolicyMode policy; /* POLICY */
                DaemonMode mode;   /* DAEMON_MODE */
                const char *s;     /* PATH, GROUP */
        };
        ConfOrigin origin;
} ConfValue;

/* [daemon]. */
typedef struct DaemonSettings {
        ConfValue interval_ms;
        ConfValue socket;
        ConfValue state_dir;
        ConfValue mode;
        ConfValue admin_group;
        ConfValue restore_on_exit;
        ConfValue reader_socket;
        ConfValue reader_group;
} DaemonSettings;

/* The per-device keys: [policy], and the subset a [device], [driver] or
 * [class] section may override. The fallback mode is "default" in [policy]
 * and "policy" in the scoped sections; it is the same value. */
typedef struct DevicePolicy {
        ConfValue policy;
        ConfValue lazy_above_unmaps_per_sec;
        ConfValue strict_below_unmaps_per_sec;
        ConfValue sustain_s;
        ConfValue min_dwell_s;
        ConfValue max_switches_per_hour;
        ConfValue allow_rebind;
        ConfValue allow_lazy_when_kernel_forced_strict;
        ConfValue flush_cost_ns;
        ConfValue require_exact_rate;
} DevicePolicy;

/* A row of the table. */
typedef struct ConfKey {
        ConfScope section;       /* CONF_SCOPE_DAEMON or CONF_SCOPE_POLICY */
        const char *name;        /* its name in that section */
        const char *scoped_name; /* its name in [device]/[driver]/[class], or NULL */
        ConfType type;
        const char *default_value; /* as written in a file */
        uint64_t min, max;         /* UINT: range; PATH: max is the longest length */
        const char *help;
        size_t offset; /* of its ConfValue in DaemonSettings or DevicePolicy */
} ConfKey;

/* The table, in the order the keys are documented. */
const ConfKey *conf_keys(size_t *ret_n);
/* Looks a key up by its name in a section of that scope (DAEMON, POLICY, or
 * CLASS/DRIVER/DEVICE for the scoped names); NULL when there is none. */
const ConfKey *conf_key_find(ConfScope scope, const char *name);
/* What key k accepts in a section of the given scope, as a phrase ("an
 * integer from 0 to 3600"): the words of error messages and of the shipped
 * file. Truncated to size. */
void conf_key_describe(const ConfKey *k, ConfScope scope, char *buf, size_t size);
/* The ConfValue of key k inside a DaemonSettings (DAEMON keys) or a
 * DevicePolicy (POLICY keys). */
const ConfValue *conf_key_value(const ConfKey *k, const void *settings);

/* A [device], [driver] or [class] section, merged over all files. */
typedef struct ConfSection {
        ConfScope scope;     /* CLASS, DRIVER or DEVICE */
        const char *name;    /* BDF, driver name or class word */
        DevicePolicy values; /* origin.scope == CONF_SCOPE_UNSET where not set */
} ConfSection;

typedef struct Config Config;

typedef enum ConfigLoadFlags {
        /* The main file was named explicitly (--config): it must exist. */
        CONFIG_LOAD_MAIN_REQUIRED = 1 << 0,
} ConfigLoadFlags;

/* Reads main_path, then every regular file matching dropin_dir/\*.conf (not
 * hidden; directories and links to /dev/null skipped) in strcmp() order;
 * later assignments win. Lines longer than inih's buffer (198 characters for
 * key and value) are errors. Either path may be NULL
 * (not read). A missing main file means built-in defaults unless
 * CONFIG_LOAD_MAIN_REQUIRED is set; a missing drop-in directory is fine.
 *
 * A key assigned twice in the same section of one file is an error (a
 * drop-in overriding another file is the way to override).
 *
 * Returns 0 with *ret set and *ret_errors NULL; -EINVAL with *ret NULL and
 * *ret_errors a non-empty strv of "file:line: what was expected" messages,
 * every error found, file by file, then the cross-key checks (an unreadable
 * file is reported the same way, without a line; strict_below must be less
 * than lazy_above in [policy] and in each section over [policy]); -ENOMEM
 * with both NULL. ret_errors may be NULL. The
 * caller frees the Config with config_free() and the errors with
 * strv_free(). On failure nothing is allocated: a caller reloading keeps the
 * Config it has. */
int config_load(const char *main_path, const char *dropin_dir, ConfigLoadFlags flags,
                Config **ret, char ***ret_errors);

/* Bounds, so that no file blocks or swamps the loader: each file is opened
 * without blocking and read only when it is a regular file of at most
 * CONF_MAX_FILE_SIZE bytes (a FIFO, device or directory as the main file is
 * an error; one in conf.d is skipped, as a directory there always was); at
 * most CONF_MAX_DROPINS drop-ins (an error past that, none read); an error
 * message is at most CONF_MAX_ERROR bytes (a longer one, quoting the
 * offending input, is cut and says how long it was). */
#define CONF_MAX_FILE_SIZE (1u << 20)
/* At most this many errors are listed, then one line saying how many more
 * there were: a file of a million bad lines is reported in milliseconds. */
#define CONF_MAX_ERRORS 100
#define CONF_MAX_DROPINS 1000
#define CONF_MAX_ERROR 256

/* Frees c (NULL is fine) and returns NULL. */
Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        config_free(*c);
}

const DaemonSettings *config_daemon(const Config *c);
/* [policy] over the built-in defaults: every value set. */
const DevicePolicy *config_policy(const Config *c);
/* The scoped sections, in the order first seen. */
const ConfSection *config_sections(const Config *c, size_t *ret_n);
/* The files that were read, in order; NULL-terminated, possibly empty. */
char *const *config_files(const Config *c);

/* The effective values for one device: [device bdf], then [driver driver],
 * then [class class_word], then [policy], then built-in defaults, per key.
 * driver and class_word may be NULL (unbound, unknown class). Every value
 * of *ret is set; its pointers live as long as c. Returns 0, or -EINVAL for
 * a NULL c, bdf or ret. */
int config_resolve_device(const Config *c, const char *bdf, const char *driver,
                          const char *class_word, DevicePolicy *ret);

/* "5", "yes", "lazy", "/run/x" for a value of key k. Returns a new string
 * or NULL on ENOMEM. */
char *conf_value_to_string(const ConfKey *k, const ConfValue *v);
/* "[driver nvme] at /etc/iommutuned/conf.d/10-nvme.conf:3" or "built-in
 * default". Returns a new string or NULL on ENOMEM. */
char *conf_origin_to_string(const ConfOrigin *o);
/* "sustain_s = 5 (from [driver nvme] at /etc/iommutuned/conf.d/10-nvme.conf:3)"
 * or "sustain_s = 3 (built-in default)". Per-device keys use their scoped
 * name ("policy"). Returns a new string or NULL on ENOMEM. */
char *config_explain(const ConfKey *k, const ConfValue *v);
/* One config_explain() line per per-device key of p. 0 or -ENOMEM. */
int config_explain_device(const DevicePolicy *p, FILE *out);
/* The effective configuration in config syntax, each value followed by a
 * comment naming its origin: for --check-config and iommuctl. 0 or -ENOMEM. */
int config_dump(const Config *c, FILE *out);

/* Writes the documented configuration file as shipped in conf/: every key
 * commented out with its default, allowed values and help, then commented
 * examples of the scoped sections. tests/test-conf checks the shipped file
 * against this. */
void config_write_template(FILE *out);
