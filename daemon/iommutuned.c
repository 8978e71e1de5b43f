/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iommutuned: keeps IOMMU protection on while paying as little for it as
 * the workload allows. main() parses arguments and runs one action.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>

#include "conf.h"
#include "config.h"
#include "group-lookup.h"
#include "log.h"
#include "manager.h"
#include "topology-output.h"
#include "topology.h"
#include "util.h"

typedef struct Args {
        bool dump_topology;
        bool check_config;
        bool json;
        const char *config_path; /* NULL: the installed one */
        const char *sysfs_root;
        const char *proc_root;
        const char *socket_path;
        const char *state_dir;
        int switch_group;        /* --switch-group N, -1: none */
        const char *switch_to;   /* --to TYPE */
        bool dry_run;
        bool recover;            /* --recover */
} Args;

#define DEFAULT_CONFIG SYSCONFDIR "/iommutuned/iommutuned.conf"

static void help(void) {
        printf("Usage: iommutuned [OPTIONS]\n\n"
               "Tunes IOMMU groups between strict (DMA) and lazy (DMA-FQ) invalidation.\n\n"
               "Without an action it runs the daemon.\n\n"
               "  --dump-topology     Print the IOMMU units, groups and devices, then exit\n"
               "  --json              With --dump-topology: print JSON\n"
               "  --check-config      Validate the configuration (and its conf.d) and exit\n"
               "  --config FILE       Read FILE and FILE's directory/conf.d/*.conf\n"
               "                      (default " DEFAULT_CONFIG ")\n"
               "  --socket PATH       Listen on PATH instead of the configured socket\n"
               "  --state-dir DIR     Keep state in DIR instead of the configured state_dir\n"
               "  --switch-group N --to DMA|DMA-FQ|identity [--dry-run]\n"
               "                      Switch one group now, with every guard, rollback and the\n"
               "                      intent log, as the daemon would; print each step, then exit\n"
               "                      (--dry-run writes nothing)\n"
               "  --recover           Finish or roll back a switch that was interrupted (the\n"
               "                      daemon does this at every start), then exit\n"
               "  --sysfs-root DIR    Read sysfs from DIR instead of /sys\n"
               "  --proc-root DIR     Read procfs from DIR instead of /proc\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n");
}

/* Returns 1 to go on, 0 to exit successfully, -EINVAL on a usage error. */
static int parse_args(int argc, char *argv[], Args *args) {
        enum { ARG_DUMP = 0x100, ARG_JSON, ARG_SYSFS, ARG_PROC, ARG_VERSION, ARG_CHECK, ARG_CONFIG, ARG_SOCKET, ARG_STATE,
               ARG_SWITCH, ARG_TO, ARG_DRY_RUN, ARG_RECOVER };
        static const struct option options[] = {
                { "dump-topology", no_argument, NULL, ARG_DUMP },
                { "check-config", no_argument, NULL, ARG_CHECK },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "state-dir", required_argument, NULL, ARG_STATE },
                { "switch-group", required_argument, NULL, ARG_SWITCH },
                { "to", required_argument, NULL, ARG_TO },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "recover", no_argument, NULL, ARG_RECOVER },
                { "json", no_argument, NULL, ARG_JSON },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS },
                { "proc-root", required_argument, NULL, ARG_PROC },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_DUMP: args->dump_topology = true; break;
                case ARG_CHECK: args->check_config = true; break;
                case ARG_CONFIG:
                        if (!*optarg) {
                                log_error("--config needs a file name");
                                return -EINVAL;
                        }
                        args->config_path = optarg;
                        break;
                case ARG_SOCKET: args->socket_path = optarg; break;
                case ARG_STATE: args->state_dir = optarg; break;
                case ARG_SWITCH:
                        if (safe_atoi(optarg, &args->switch_group) < 0 || args->switch_group < 0) {
                                log_error("--switch-group needs a group number, got \"%s\"", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_TO: args->switch_to = optarg; break;
                case ARG_DRY_RUN: args->dry_run = true; break;
                case ARG_RECOVER: args->recover = true; break;
                case ARG_JSON: args->json = true; break;
                case ARG_SYSFS: args->sysfs_root = optarg; break;
                case ARG_PROC: args->proc_root = optarg; break;
                case 'h': help(); return 0;
                case ARG_VERSION: printf("iommutuned %s\n", PACKAGE_VERSION); return 0;
                default: return -EINVAL;
                }
        if (optind < argc) {
                log_error("Unexpected argument: %s", argv[optind]);
                return -EINVAL;
        }
        if (args->json && !args->dump_topology) {
                log_error("--json needs --dump-topology");
                return -EINVAL;
        }
        if ((args->switch_group >= 0) != (args->switch_to != NULL) || (args->dry_run && args->switch_group < 0)) {
                log_error("--switch-group N and --to TYPE go together (--dry-run with them)");
                return -EINVAL;
        }
        if (args->switch_to && group_type_from_string(args->switch_to) != GROUP_TYPE_DMA &&
            group_type_from_string(args->switch_to) != GROUP_TYPE_DMA_FQ &&
            group_type_from_string(args->switch_to) != GROUP_TYPE_IDENTITY) {
                log_error("--to takes DMA, DMA-FQ or identity, got \"%s\"", args->switch_to);
                return -EINVAL;
        }
        if (args->dump_topology + args->check_config + (args->switch_group >= 0) + args->recover > 1) {
                log_error("--dump-topology, --check-config, --switch-group and --recover are separate actions");
                return -EINVAL;
        }
        return 1;
}

/* The drop-in directory that goes with a main config file. */
static char *dropin_dir_for(const char *config_path) {
        const char *slash = strrchr(config_path, '/');
        char *dir = NULL;

        if (asprintf(&dir, "%.*s/conf.d", slash ? (int) (slash - config_path) : 1, slash ? config_path : ".") < 0)
                return NULL;
        return dir;
}

/* The first file:line that set a value in a scoped section. */
static const ConfOrigin *section_origin(const ConfSection *sec) {
        size_t n_keys;
        const ConfKey *keys = conf_keys(&n_keys);
        const ConfOrigin *first = NULL;

        for (size_t i = 0; i < n_keys; i++) {
                const ConfValue *v;

                if (keys[i].section != CONF_SCOPE_POLICY)
                        continue;
                v = conf_key_value(&keys[i], &sec->values);
                if (v->origin.file && (!first || v->origin.line < first->line))
                        first = &v->origin;
        }
        return first;
}

/* What only this machine can tell about a valid file: every group a key
 * names exists, every [class WORD] is a word the daemon gives devices.
 * A group named by a built-in default that does not exist (systemd-sysusers
 * has not run yet) is a note, not an error. Prints each; returns how many
 * errors. */
static unsigned check_config_on_host(const Config *c) {
        size_t n_keys, n_sections;
        const ConfKey *keys = conf_keys(&n_keys);
        const ConfSection *sections = config_sections(c, &n_sections);
        unsigned errors = 0;

        for (size_t i = 0; i < n_keys; i++) {
                const ConfValue *v;
                gid_t gid;

                if (keys[i].section != CONF_SCOPE_DAEMON || keys[i].type != CONF_TYPE_GROUP)
                        continue;
                v = conf_key_value(&keys[i], config_daemon(c));
                if (isempty(v->s) || group_lookup_gid(v->s, &gid) == 0)
                        continue;
                if (v->origin.file) {
                        fprintf(stderr, "%s:%u: %s: group \"%s\" does not exist on this machine\n", v->origin.file,
                                v->origin.line, keys[i].name, v->s);
                        errors++;
                } else
                        fprintf(stderr, "Note: %s is \"%s\" by default, and that group does not exist yet "
                                        "(systemd-sysusers creates it)\n", keys[i].name, v->s);
        }
        for (size_t i = 0; i < n_sections; i++) {
                const ConfOrigin *at = section_origin(&sections[i]);

                if (sections[i].scope != CONF_SCOPE_CLASS || pci_class_word_known(sections[i].name))
                        continue;
                fprintf(stderr, "%s:%u: [class %s]: the daemon gives no device the class \"%s\" (iommutuned "
                                "--dump-topology shows each device's class)\n",
                        at ? at->file : "?", at ? at->line : 0, sections[i].name, sections[i].name);
                errors++;
        }
        return errors;
}

static int check_config(const char *path, const char *dropin_dir, bool required) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        r = config_load(path, dropin_dir, required ? CONFIG_LOAD_MAIN_REQUIRED : 0, &c, &errors);
        if (r == -ENOMEM)
                return log_error_errno(r, "Failed to load the configuration: %m");
        if (r < 0) {
                for (char **e = errors; e && *e; e++)
                        fprintf(stderr, "%s\n", *e);
                if (strv_length(errors) > CONF_MAX_ERRORS) /* the last line counts the rest */
                        fprintf(stderr, "More than %d errors; the configuration is not valid.\n", CONF_MAX_ERRORS);
                else
                        fprintf(stderr, "%zu error%s; the configuration is not valid.\n", strv_length(errors),
                                strv_length(errors) == 1 ? "" : "s");
                return r;
        }
        {
                unsigned n = check_config_on_host(c);

                if (n > 0) {
                        fprintf(stderr, "%u error%s; the configuration is not valid.\n", n, n == 1 ? "" : "s");
                        return -EINVAL;
                }
        }
        printf("Configuration valid (read:");
        for (char *const *f = config_files(c); f && *f; f++)
                printf(" %s", *f);
        printf("%s).\n", config_files(c) && *config_files(c) ? "" : " no file, built-in defaults");
        return 0;
}

static ManagerOptions manager_options(const Args *args, const char *config_path, const char *dropin_dir) {
        return (ManagerOptions) {
                .config_path = config_path,
                .dropin_dir = dropin_dir,
                .config_required = args->config_path != NULL,
                .sysfs_root = args->sysfs_root,
                .proc_root = args->proc_root,
                .socket_path = args->socket_path,
                .state_dir = args->state_dir,
                .read_only = args->dry_run, /* only with --switch-group */
        };
}

static int new_manager(const Args *args, const char *config_path, const char *dropin_dir, Manager **ret) {
        ManagerOptions opts = manager_options(args, config_path, dropin_dir);
        int r;

        r = manager_new(&opts, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to start: %m");
        return 0;
}

/* One switch by hand: the Manager prepares exactly what the daemon would
 * (recovery first, device usage, the policy's guard facts), then the
 * switching engine runs once. */
static int switch_one(const Args *args, const char *config_path, const char *dropin_dir) {
        _cleanup_(manager_freep) Manager *m = NULL;
        SwitchResult res = {};
        const PolicyDecision *d = NULL;
        int r;

        r = new_manager(args, config_path, dropin_dir, &m);
        if (r < 0)
                return r;
        r = manager_prepare_switching(m);
        if (r < 0)
                return r;
        d = manager_decision(m, (unsigned) args->switch_group);
        if (!d)
                return log_error_errno(ENOENT, "No IOMMU group %d", args->switch_group);
        r = manager_switch_group(m, d, group_type_from_string(args->switch_to), args->dry_run, &res);
        for (char **s = res.steps; s && *s; s++)
                printf("  %s\n", *s);
        for (size_t i = 0; i < _GUARD_MAX; i++)
                if (res.verdicts[i].applies)
                        printf("  guard %s: %s: %s\n", guard_id_to_string(res.verdicts[i].id),
                               res.verdicts[i].passed ? "pass" : "FAIL", res.verdicts[i].reason);
        printf("%s: %s\n", switch_outcome_to_string(res.outcome), res.message ? res.message : "");
        if (!args->dry_run)
                manager_record_manual_switch(m, d, &res);
        switch_result_done(&res);
        return r < 0 ? r : 0;
}

/* What every start does first, alone: an interrupted switch's record is
 * finished or rolled back (logged as "Recovery: ..."), then exit. */
static int recover_only(const Args *args, const char *config_path, const char *dropin_dir) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        r = new_manager(args, config_path, dropin_dir, &m);
        return r < 0 ? r : manager_open(m);
}

static int run_daemon(const Args *args, const char *config_path, const char *dropin_dir) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        /* Give the heap's top back to the kernel once 64 KiB of it are free,
         * and grow it by no more than asked: glibc keeps up to 128 KiB free
         * at the top and pads each growth by 128 KiB, so a tick's
         * short-lived arrays (the accounting's, ~90 KiB on 300 groups) stayed
         * resident between ticks. ~80 KiB less RssAnon on the 300-group
         * fixture (tests/bench-memory), for a few brk calls a tick. */
        (void) mallopt(M_TOP_PAD, 0);
        (void) mallopt(M_TRIM_THRESHOLD, 64 * 1024);

        r = new_manager(args, config_path, dropin_dir, &m);
        if (r < 0)
                return r;
        r = manager_start(m);
        if (r < 0)
                return r;
        r = manager_run(m);
        if (r < 0)
                return log_error_errno(r, "The event loop failed: %m");
        log_info("Stopped");
        return 0;
}

static int dump_topology(const Args *args) {
        _cleanup_(topology_freep) Topology *t = NULL;
        int r;

        r = topology_scan(args->sysfs_root, args->proc_root, &t);
        if (r < 0)
                return log_error_errno(r, "Failed to read the IOMMU topology from %s and %s: %m", args->sysfs_root,
                                       args->proc_root);
        if (args->json) {
                json_object *o = topology_to_json(t);

                if (!o)
                        return log_error_errno(ENOMEM, "Failed to build the topology JSON: %m");
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else {
                r = topology_print(t, stdout);
                if (r < 0)
                        return log_error_errno(r, "Failed to print the topology: %m");
        }
        return fflush(stdout) == 0 ? 0 : log_error_errno(errno, "Failed to write the topology: %m");
}

int main(int argc, char *argv[]) {
        Args args = { .sysfs_root = "/sys", .proc_root = "/proc", .switch_group = -1 };
        _cleanup_free_ char *dropin_dir = NULL;
        const char *config_path;
        int r;

        log_setup();
        r = parse_args(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (args.dump_topology)
                return dump_topology(&args) < 0 ? 1 : 0;

        config_path = args.config_path ? args.config_path : DEFAULT_CONFIG;
        dropin_dir = dropin_dir_for(config_path);
        if (!dropin_dir)
                return log_error_errno(ENOMEM, "Out of memory: %m"), 1;
        if (args.check_config)
                return check_config(config_path, dropin_dir, args.config_path != NULL) < 0 ? 1 : 0;
        if (args.switch_group >= 0)
                return switch_one(&args, config_path, dropin_dir) < 0 ? 1 : 0;
        if (args.recover)
                return recover_only(&args, config_path, dropin_dir) < 0 ? 1 : 0;
        return run_daemon(&args, config_path, dropin_dir) < 0 ? 1 : 0;
}
