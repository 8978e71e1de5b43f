/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for daemon/conf.c. Config files are written to a temporary
 * directory. SHIPPED_CONF names conf/iommutuned.conf, which must equal what
 * config_write_template() writes; regenerate it with
 *   build/tests/test-conf --write-template conf/iommutuned.conf
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "conf.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-conf-XXXXXX";

/* Returns tmpdir/name in one of a few rotating buffers. */
static const char *tpath(const char *name) {
        static char buf[4][PATH_MAX];
        static unsigned i;

        i = (i + 1) % ELEMENTSOF(buf);
        snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
        return buf[i];
}

static void write_bytes(const char *name, const char *text, size_t len) {
        FILE *f = fopen(tpath(name), "we");

        if (!f) {
                perror(name);
                exit(1);
        }
        fwrite(text, 1, len, f);
        fclose(f);
}

static void write_file(const char *name, const char *text) {
        write_bytes(name, text, strlen(text));
}

static void make_dir(const char *name) {
        if (mkdir(tpath(name), 0755) < 0 && errno != EEXIST) {
                perror(name);
                exit(1);
        }
}

static int rm_one(const char *path, _unused_ const struct stat *st, _unused_ int flag,
                  _unused_ struct FTW *ftw) {
        return remove(path);
}

/* Replaces every "@" in s with path. */
static char *subst(const char *s, const char *path) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        for (; *s; s++)
                if (*s == '@')
                        fputs(path, f);
                else
                        fputc(*s, f);
        fclose(f);
        return out;
}

/* s with newlines as "\\n", for one-line TAP descriptions. */
static char *oneline(const char *s) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        for (; *s; s++)
                if (*s == '\n')
                        fputs("\\n", f);
                else if (*s == '\r')
                        fputs("\\r", f);
                else
                        fputc(*s, f);
        fclose(f);
        return out;
}

/* Loads tmpdir/main.conf with text as its only file. */
static int load_text(const char *text, Config **ret, char ***ret_errors) {
        write_file("main.conf", text);
        return config_load(tpath("main.conf"), NULL, 0, ret, ret_errors);
}

static const ConfKey *key(ConfScope scope, const char *name) {
        const ConfKey *k = conf_key_find(scope, name);

        if (!k) {
                fprintf(stderr, "no key %s\n", name);
                exit(1);
        }
        return k;
}

/* Checks that text loads and that key name of [policy] has the value want. */
static void check_policy_value(const char *text, const char *name, const char *want) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *got = NULL;
        _cleanup_free_ char *line = oneline(text);
        const ConfKey *k = key(CONF_SCOPE_POLICY, name);
        int r = load_text(text, &c, &errors);

        CHECK(r == 0, "loads: %s (%s)", line, r < 0 ? strna(errors ? errors[0] : NULL) : "");
        if (r < 0)
                return;
        got = conf_value_to_string(k, conf_key_value(k, config_policy(c)));
        CHECK_STR(got, want, name);
}

static void test_defaults(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        size_t n, n_sections;
        const ConfKey *keys = conf_keys(&n);

        tap_diag("defaults");
        CHECK_INT(config_load(NULL, NULL, 0, &c, &errors), 0, "load with no files");
        CHECK(!errors, "no errors");
        for (size_t i = 0; i < n; i++) {
                const void *settings = keys[i].section == CONF_SCOPE_DAEMON ?
                                               (const void *) config_daemon(c) : config_policy(c);
                const ConfValue *v = conf_key_value(keys + i, settings);
                _cleanup_free_ char *s = conf_value_to_string(keys + i, v);

                CHECK_STR(s, keys[i].default_value, keys[i].name);
                CHECK_INT(v->origin.scope, CONF_SCOPE_BUILTIN, "origin is built-in");
        }
        CHECK_INT(config_daemon(c)->interval_ms.u, 1000, "interval_ms");
        CHECK_STR(config_daemon(c)->socket.s, "/run/iommutuned/iommutuned.sock", "socket");
        CHECK_INT(config_daemon(c)->mode.mode, DAEMON_MODE_ENFORCE, "mode");
        CHECK(!config_daemon(c)->restore_on_exit.b, "restore_on_exit");
        CHECK_INT(config_policy(c)->policy.policy, POLICY_MODE_AUTO, "default");
        CHECK_INT(config_policy(c)->sustain_s.u, 3, "sustain_s");
        config_sections(c, &n_sections);
        CHECK_INT(n_sections, 0, "no sections");
        CHECK(!config_files(c)[0], "no files read");
        c = config_free(c);

        /* A missing main file is fine unless it was asked for. */
        CHECK_INT(config_load(tpath("nonexistent.conf"), tpath("nonexistent.d"), 0, &c, &errors),
                  0, "missing main file and drop-in dir are fine");
        CHECK(!config_files(c)[0], "no files read");
        c = config_free(c);
        CHECK_INT(config_load(tpath("nonexistent.conf"), NULL, CONFIG_LOAD_MAIN_REQUIRED, &c,
                              &errors),
                  -EINVAL, "missing required main file");
        CHECK(!c, "no config");
        if (errors) {
                _cleanup_free_ char *want = subst("@: cannot open: No such file or directory",
                                                  tpath("nonexistent.conf"));
                CHECK_STR(errors[0], want, "error");
                CHECK_INT(strv_length(errors), 1, "one error");
        }
}

static void test_enums(void) {
        tap_diag("enum names");
        for (PolicyMode m = 0; m < _POLICY_MODE_MAX; m++)
                CHECK_INT(policy_mode_from_string(policy_mode_to_string(m)), m, "policy mode");
        for (DaemonMode m = 0; m < _DAEMON_MODE_MAX; m++)
                CHECK_INT(daemon_mode_from_string(daemon_mode_to_string(m)), m, "daemon mode");
        CHECK_STR(policy_mode_to_string(POLICY_MODE_IDENTITY), "identity", "identity");
        CHECK_INT(policy_mode_from_string("Lazy"), -EINVAL, "case matters");
        CHECK_INT(policy_mode_from_string(NULL), -EINVAL, "NULL");
        CHECK(!policy_mode_to_string(_POLICY_MODE_MAX), "out of range");
        CHECK_INT(daemon_mode_from_string("advise"), DAEMON_MODE_ADVISE, "advise");
        CHECK_STR(conf_scope_to_string(CONF_SCOPE_DRIVER), "driver", "scope name");
}

static void test_every_key(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const DaemonSettings *d;
        const DevicePolicy *p;
        int r;

        tap_diag("every key");
        r = load_text("[daemon]\n"
                      "interval_ms = 250\n"
                      "socket = /tmp/x.sock\n"
                      "state_dir = /tmp/state\n"
                      "mode = advise\n"
                      "admin_group = wheel\n"
                      "restore_on_exit = yes\n"
                      "[policy]\n"
                      "default = lazy\n"
                      "lazy_above_unmaps_per_sec = 5000\n"
                      "strict_below_unmaps_per_sec = 100\n"
                      "sustain_s = 0\n"
                      "min_dwell_s = 86400\n"
                      "max_switches_per_hour = 60\n"
                      "allow_rebind = true\n"
                      "allow_lazy_when_kernel_forced_strict = on\n"
                      "flush_cost_ns = 1500\n",
                      &c, &errors);
        CHECK_INT(r, 0, "loads");
        if (r < 0)
                return;
        d = config_daemon(c);
        p = config_policy(c);
        CHECK_INT(d->interval_ms.u, 250, "interval_ms");
        CHECK_STR(d->socket.s, "/tmp/x.sock", "socket");
        CHECK_STR(d->state_dir.s, "/tmp/state", "state_dir");
        CHECK_INT(d->mode.mode, DAEMON_MODE_ADVISE, "mode");
        CHECK_STR(d->admin_group.s, "wheel", "admin_group");
        CHECK(d->restore_on_exit.b, "restore_on_exit");
        CHECK_INT(p->policy.policy, POLICY_MODE_LAZY, "default");
        CHECK_INT(p->lazy_above_unmaps_per_sec.u, 5000, "lazy_above");
        CHECK_INT(p->strict_below_unmaps_per_sec.u, 100, "strict_below");
        CHECK_INT(p->sustain_s.u, 0, "sustain_s");
        CHECK_INT(p->min_dwell_s.u, 86400, "min_dwell_s");
        CHECK_INT(p->max_switches_per_hour.u, 60, "max_switches_per_hour");
        CHECK(p->allow_rebind.b, "allow_rebind");
        CHECK(p->allow_lazy_when_kernel_forced_strict.b, "allow_lazy_when_kernel_forced_strict");
        CHECK_INT(p->flush_cost_ns.u, 1500, "flush_cost_ns");

        CHECK_INT(d->interval_ms.origin.scope, CONF_SCOPE_DAEMON, "daemon origin scope");
        CHECK_INT(d->interval_ms.origin.line, 2, "interval_ms line");
        CHECK_STR(d->interval_ms.origin.file, tpath("main.conf"), "origin file");
        CHECK(!d->interval_ms.origin.section, "no section name");
        CHECK_INT(p->policy.origin.scope, CONF_SCOPE_POLICY, "policy origin scope");
        CHECK_INT(p->policy.origin.line, 9, "default line");
        CHECK_INT(p->flush_cost_ns.origin.line, 17, "flush_cost_ns line");
        CHECK_STR(config_files(c)[0], tpath("main.conf"), "file listed");
        CHECK(!config_files(c)[1], "one file");

        /* An empty admin_group means root only. */
        c = config_free(c);
        CHECK_INT(load_text("[daemon]\nadmin_group =\n", &c, &errors), 0, "empty admin_group");
        if (c)
                CHECK_STR(config_daemon(c)->admin_group.s, "", "admin_group empty");
}

static void test_booleans(void) {
        static const struct {
                const char *text;
                const char *want;
        } cases[] = {
                { "yes", "yes" }, { "no", "no" }, { "true", "yes" }, { "false", "no" },
                { "1", "yes" },   { "0", "no" },  { "on", "yes" },   { "off", "no" },
                { "YES", "yes" }, { "Off", "no" },
        };

        tap_diag("booleans");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;

                CHECK(asprintf(&text, "[policy]\nallow_rebind = %s\n", cases[i].text) > 0,
                      "asprintf");
                check_policy_value(text, "allow_rebind", cases[i].want);
        }
}

static void test_syntax(void) {
        tap_diag("syntax: comments, whitespace, line ends");
        check_policy_value("# comment\n; comment\n\n[policy]   # trailing\n"
                           "sustain_s = 7   # trailing comment\n",
                           "sustain_s", "7");
        check_policy_value("[policy]\nsustain_s = 7 ; semicolon comment\n", "sustain_s", "7");
        check_policy_value("[policy]\r\nsustain_s=8\r\n", "sustain_s", "8");
        check_policy_value("\xEF\xBB\xBF[policy]\nsustain_s = 9\n", "sustain_s", "9");
        check_policy_value("  [ policy ]\n\tsustain_s\t=\t10\t\n", "sustain_s", "10");
        /* No continuation lines: an indented line is a key of its own. */
        check_policy_value("[policy]\nsustain_s = 1\n   min_dwell_s = 5\n", "min_dwell_s", "5");
        check_policy_value("[policy]\nsustain_s = 1\n   min_dwell_s = 5\n", "sustain_s", "1");
        /* No newline at the end of the file. */
        check_policy_value("[policy]\nsustain_s = 11", "sustain_s", "11");
        /* A section may come back; its keys merge. */
        check_policy_value("[policy]\nsustain_s = 1\n[daemon]\n[policy]\nmin_dwell_s = 6\n",
                           "sustain_s", "1");
}

/* Each text yields exactly these errors; "@" stands for the file's path. */
static void check_errors(const char *text, const char *const *want, size_t n_want) {
        _cleanup_(config_freep) Config *c = (Config *) 1;
        _cleanup_strv_free_ char **errors = NULL;
        int r = load_text(text, &c, &errors);

        CHECK_INT(r, -EINVAL, "rejected");
        CHECK(!c, "no config on error");
        CHECK_INT(strv_length(errors), n_want, "number of errors");
        for (size_t i = 0; i < n_want && i < strv_length(errors); i++) {
                _cleanup_free_ char *w = subst(want[i], tpath("main.conf"));

                CHECK_STR(errors[i], w, "error message");
        }
}

#define CHECK_ERRORS(text, ...)                                                   \
        do {                                                                      \
                static const char *const _w[] = { __VA_ARGS__ };                  \
                check_errors((text), _w, ELEMENTSOF(_w));                         \
        } while (0)

static void test_errors(void) {
        char long_line[400];

        tap_diag("errors");
        /* Section headers. */
        CHECK_ERRORS("[daemon\n", "@:1: expected \"]\" to close the section header \"[daemon\"");
        CHECK_ERRORS("[daemon] x\n", "@:1: unexpected text after the section header: \"x\"");
        CHECK_ERRORS("\n[foo]\n", "@:2: unknown section [foo]; expected [daemon], [policy], "
                                  "[device ADDRESS], [driver NAME] or [class WORD]");
        CHECK_ERRORS("[daemon x]\n", "@:1: [daemon] takes no name, got \"x\"");
        CHECK_ERRORS("[policy  y]\n", "@:1: [policy] takes no name, got \"y\"");
        CHECK_ERRORS("[device 0000:3B:00.0]\n",
                     "@:1: [device]: expected a PCI address like 0000:3b:00.0 (lowercase hex), "
                     "got \"0000:3B:00.0\"");
        CHECK_ERRORS("[device 3b:00.0]\n[device]\n[device 0000:3b:20.0]\n[device 0000:3b:00.8]\n"
                     "[device 0000:3b:00.0 x]\n",
                     "@:1: [device]: expected a PCI address like 0000:3b:00.0 (lowercase hex), "
                     "got \"3b:00.0\"",
                     "@:2: [device]: expected a PCI address like 0000:3b:00.0 (lowercase hex), "
                     "got \"\"",
                     "@:3: [device]: expected a PCI address like 0000:3b:00.0 (lowercase hex), "
                     "got \"0000:3b:20.0\"",
                     "@:4: [device]: expected a PCI address like 0000:3b:00.0 (lowercase hex), "
                     "got \"0000:3b:00.8\"",
                     "@:5: [device]: expected a PCI address like 0000:3b:00.0 (lowercase hex), "
                     "got \"0000:3b:00.0 x\"");
        CHECK_ERRORS("[driver]\n", "@:1: [driver]: expected a driver name like nvme (letters, "
                                   "digits, \"_\", \"-\", \".\"), got \"\"");
        CHECK_ERRORS("[class Ethernet]\n", "@:1: [class]: expected a class word like ethernet "
                                           "(a-z, 0-9, \"_\", \"-\"), got \"Ethernet\"");
        /* Keys of a bad section are not reported again. */
        CHECK_ERRORS("[bogus]\nfoo = 1\nsustain_s = x\n",
                     "@:1: unknown section [bogus]; expected [daemon], [policy], "
                     "[device ADDRESS], [driver NAME] or [class WORD]");

        /* Lines. */
        CHECK_ERRORS("sustain_s = 1\n",
                     "@:1: \"sustain_s\" before any section header; expected [daemon], "
                     "[policy], [device ADDRESS], [driver NAME] or [class WORD] first");
        CHECK_ERRORS("[policy]\nsustain_s\n", "@:2: expected \"key = value\", a [section] "
                                              "header or a comment, got \"sustain_s\"");
        CHECK_ERRORS("[policy]\nsustain_s: 3\n", "@:2: expected \"key = value\", a [section] "
                                                 "header or a comment, got \"sustain_s: 3\"");
        CHECK_ERRORS("[policy]\n = 3\n", "@:2: expected a key name before \"=\"");
        memset(long_line, 0, sizeof(long_line));
        strcpy(long_line, "[daemon]\nsocket = /");
        memset(long_line + strlen(long_line), 'a', 250);
        strcat(long_line, "\n");
        CHECK_ERRORS(long_line,
                     "@:2: line too long: key and value may have at most 198 characters");

        /* Keys. */
        CHECK_ERRORS("[policy]\nfoo = 1\n", "@:2: unknown key \"foo\" in [policy]");
        CHECK_ERRORS("[policy]\nsus:tain = 1\n", "@:2: unknown key \"sus:tain\" in [policy]");
        CHECK_ERRORS("[driver nvme]\nSustain_s = 1\n",
                     "@:2: unknown key \"Sustain_s\" in [driver nvme]");
        CHECK_ERRORS("[policy]\ninterval_ms = 1000\n",
                     "@:2: interval_ms: belongs in [daemon], not in [policy]");
        CHECK_ERRORS("[class gpu]\nsocket = /x\n",
                     "@:2: socket: belongs in [daemon], not in [class gpu]");
        CHECK_ERRORS("[daemon]\nsustain_s = 1\n",
                     "@:2: sustain_s: belongs in [policy], not in [daemon]");
        CHECK_ERRORS("[driver nvme]\ndefault = lazy\n",
                     "@:2: default: not valid in [driver nvme], which calls it \"policy\"");
        CHECK_ERRORS("[policy]\npolicy = lazy\n",
                     "@:2: policy: not valid in [policy], which calls it \"default\"");

        /* Values. */
        CHECK_ERRORS("[policy]\nsustain_s = abc\n",
                     "@:2: sustain_s: expected an integer from 0 to 3600, got \"abc\"");
        CHECK_ERRORS("[policy]\nsustain_s = 3601\nsustain_s = -1\n"
                     "[daemon]\ninterval_ms = 99\ninterval_ms = 0x100\n"
                     "[class nvme]\nmin_dwell_s = 99999999999999999999999\nflush_cost_ns =\n"
                     "max_switches_per_hour = 1 2\n",
                     "@:2: sustain_s: expected an integer from 0 to 3600, got \"3601\"",
                     "@:3: sustain_s: expected an integer from 0 to 3600, got \"-1\"",
                     "@:5: interval_ms: expected an integer from 100 to 60000, got \"99\"",
                     "@:6: interval_ms: expected an integer from 100 to 60000, got \"0x100\"",
                     "@:8: min_dwell_s: expected an integer from 0 to 86400, "
                     "got \"99999999999999999999999\"",
                     "@:9: flush_cost_ns: expected an integer from 0 to 10000000, got \"\"",
                     "@:10: max_switches_per_hour: expected an integer from 0 to 60, "
                     "got \"1 2\"");
        CHECK_ERRORS("[daemon]\nrestore_on_exit = maybe\n",
                     "@:2: restore_on_exit: expected a boolean (yes/no, true/false, on/off, "
                     "1/0), got \"maybe\"");
        CHECK_ERRORS("[policy]\ndefault = fast\n[device 0000:3b:00.0]\npolicy = Lazy\n",
                     "@:2: default: expected auto, strict, lazy or keep, got \"fast\"",
                     "@:4: policy: expected auto, strict, lazy, keep or identity, got \"Lazy\"");
        CHECK_ERRORS("[policy]\ndefault = identity\n[driver nvme]\npolicy = identity\n"
                     "[class gpu]\npolicy = identity\n",
                     "@:2: default: \"identity\" is only allowed in a [device] section",
                     "@:4: policy: \"identity\" is only allowed in a [device] section",
                     "@:6: policy: \"identity\" is only allowed in a [device] section");
        CHECK_ERRORS("[daemon]\nmode = on\n",
                     "@:2: mode: expected enforce or advise, got \"on\"");
        CHECK_ERRORS("[daemon]\nsocket = run/x.sock\n"
                     "socket = /run/iommutuned/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                     "@:2: socket: expected an absolute path of at most 107 characters, "
                     "got \"run/x.sock\"",
                     "@:3: socket: expected an absolute path of at most 107 characters, "
                     "got \"/run/iommutuned/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");
        CHECK_ERRORS("[daemon]\nadmin_group = -x\nadmin_group = a b\n",
                     "@:2: admin_group: expected a group name of at most 32 characters, or "
                     "nothing, got \"-x\"",
                     "@:3: admin_group: expected a group name of at most 32 characters, or "
                     "nothing, got \"a b\"");

        /* Duplicates within one file, also across a repeated header. */
        CHECK_ERRORS("[policy]\nsustain_s = 1\nsustain_s = 2\n",
                     "@:3: sustain_s: already set at line 2; a key may appear once per section "
                     "in a file");
        CHECK_ERRORS("[driver nvme]\npolicy = lazy\n[daemon]\n[driver nvme]\npolicy = strict\n"
                     "[driver ahci]\npolicy = strict\n",
                     "@:5: policy: already set at line 2; a key may appear once per section "
                     "in a file");

        /* strict_below must stay under lazy_above. */
        CHECK_ERRORS("[policy]\nstrict_below_unmaps_per_sec = 1000\n",
                     "@:2: strict_below_unmaps_per_sec = 1000 must be less than "
                     "lazy_above_unmaps_per_sec = 1000 (built-in default)");
        CHECK_ERRORS("[policy]\nlazy_above_unmaps_per_sec = 5\n",
                     "@:2: lazy_above_unmaps_per_sec = 5 must be greater than "
                     "strict_below_unmaps_per_sec = 10 (built-in default)");
        CHECK_ERRORS("[policy]\nlazy_above_unmaps_per_sec = 100\n"
                     "[driver nvme]\nstrict_below_unmaps_per_sec = 200\n"
                     "[class gpu]\nlazy_above_unmaps_per_sec = 8\n",
                     "@:4: strict_below_unmaps_per_sec = 200 must be less than "
                     "lazy_above_unmaps_per_sec = 100 (from [policy] at @:2)",
                     "@:6: lazy_above_unmaps_per_sec = 8 must be greater than "
                     "strict_below_unmaps_per_sec = 10 (built-in default)");

        /* Every error is collected, in file order. */
        CHECK_ERRORS("[daemon]\n"
                     "interval_ms = 10\n"
                     "mode = enforce\n"
                     "bogus = 1\n"
                     "[policy]\n"
                     "sustain_s = x\n"
                     "min_dwell_s = 5\n"
                     "min_dwell_s = 6\n"
                     "[device 0000:3b:00.0]\n"
                     "policy = identity\n"
                     "[class]\n"
                     "policy = lazy\n"
                     "garbage\n",
                     "@:2: interval_ms: expected an integer from 100 to 60000, got \"10\"",
                     "@:4: unknown key \"bogus\" in [daemon]",
                     "@:6: sustain_s: expected an integer from 0 to 3600, got \"x\"",
                     "@:8: min_dwell_s: already set at line 7; a key may appear once per "
                     "section in a file",
                     "@:11: [class]: expected a class word like ethernet (a-z, 0-9, \"_\", "
                     "\"-\"), got \"\"",
                     "@:13: expected \"key = value\", a [section] header or a comment, "
                     "got \"garbage\"");

        /* A NUL byte does not end the line silently. */
        {
                _cleanup_(config_freep) Config *c = NULL;
                _cleanup_strv_free_ char **errors = NULL;
                _cleanup_free_ char *want = subst("@:2: line contains a NUL byte",
                                                  tpath("main.conf"));
                static const char text[] = "[policy]\nsustain_s = 1\0junk\n";

                write_bytes("main.conf", text, sizeof(text) - 1);
                CHECK_INT(config_load(tpath("main.conf"), NULL, 0, &c, &errors), -EINVAL,
                          "NUL byte rejected");
                CHECK_STR(errors ? errors[0] : NULL, want, "NUL byte error");
        }

        /* ret_errors may be NULL. */
        {
                _cleanup_(config_freep) Config *c = NULL;

                CHECK_INT(load_text("[policy]\nsustain_s = x\n", &c, NULL), -EINVAL,
                          "errors not wanted");
        }
}

static void test_dropins(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const DevicePolicy *p;
        char *const *files;
        int r;

        tap_diag("drop-ins");
        make_dir("d1");
        make_dir("d1/conf.d");
        make_dir("d1/conf.d/40-dir.conf");
        write_file("d1/main.conf", "[policy]\nsustain_s = 5\nmin_dwell_s = 50\n");
        /* Written out of order: the loader sorts. */
        write_file("d1/conf.d/20-b.conf", "# b\n[policy]\nsustain_s = 7\n");
        write_file("d1/conf.d/10-a.conf", "[policy]\nsustain_s = 6\nmin_dwell_s = 10\n"
                                          "[driver nvme]\nsustain_s = 1\n");
        write_file("d1/conf.d/30-c.conf.bak", "garbage\n");
        write_file("d1/conf.d/README", "garbage\n");
        write_file("d1/conf.d/.hidden.conf", "garbage\n");
        write_file("d1/conf.d/.conf", "garbage\n");
        CHECK(symlink("/dev/null", tpath("d1/conf.d/50-masked.conf")) == 0, "symlink");

        r = config_load(tpath("d1/main.conf"), tpath("d1/conf.d"), CONFIG_LOAD_MAIN_REQUIRED, &c,
                        &errors);
        CHECK_INT(r, 0, "loads");
        if (r < 0) {
                for (char **e = errors; e && *e; e++)
                        tap_diag("%s", *e);
                return;
        }
        p = config_policy(c);
        CHECK_INT(p->sustain_s.u, 7, "later drop-in wins");
        CHECK_STR(p->sustain_s.origin.file, tpath("d1/conf.d/20-b.conf"), "from 20-b");
        CHECK_INT(p->sustain_s.origin.line, 3, "line in 20-b");
        CHECK_INT(p->min_dwell_s.u, 10, "drop-in beats main file");
        CHECK_STR(p->min_dwell_s.origin.file, tpath("d1/conf.d/10-a.conf"), "from 10-a");
        files = config_files(c);
        CHECK_STR(files[0], tpath("d1/main.conf"), "main file first");
        CHECK_STR(files[1], tpath("d1/conf.d/10-a.conf"), "then 10-a");
        CHECK_STR(files[2], tpath("d1/conf.d/20-b.conf"), "then 20-b");
        CHECK(!files[2] || !files[3], "nothing else read");
        c = config_free(c);

        /* Without a main file, drop-ins still apply. */
        CHECK_INT(config_load(tpath("d1/none.conf"), tpath("d1/conf.d"), 0, &c, &errors), 0,
                  "drop-ins without main file");
        if (c)
                CHECK_INT(config_policy(c)->sustain_s.u, 7, "drop-in value");
        c = config_free(c);

        /* Errors name the drop-in they are in; all files are checked. */
        write_file("d1/conf.d/15-bad.conf", "[policy]\nsustain_s = 9999\n");
        write_file("d1/conf.d/25-bad.conf", "\n\n[driver nvme]\nbogus = 1\n");
        r = config_load(tpath("d1/main.conf"), tpath("d1/conf.d"), 0, &c, &errors);
        CHECK_INT(r, -EINVAL, "bad drop-ins rejected");
        CHECK(!c, "no config");
        CHECK_INT(strv_length(errors), 2, "two errors");
        if (strv_length(errors) == 2) {
                _cleanup_free_ char *w1 = subst("@:2: sustain_s: expected an integer from 0 to "
                                                "3600, got \"9999\"",
                                                tpath("d1/conf.d/15-bad.conf"));
                _cleanup_free_ char *w2 = subst("@:4: unknown key \"bogus\" in [driver nvme]",
                                                tpath("d1/conf.d/25-bad.conf"));

                CHECK_STR(errors[0], w1, "error in 15-bad");
                CHECK_STR(errors[1], w2, "error in 25-bad");
        }
}

/* Hostile files: nothing blocks, nothing grows with the input. */
static void test_hostile_files(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        size_t big = 600u << 10;
        char *line = malloc(CONF_MAX_FILE_SIZE + 32); /* more than big */
        uint64_t t0;
        int r;

        tap_diag("hostile files");
        /* A FIFO as the main file: refused at once, not waited on. */
        CHECK(mkfifo(tpath("fifo.conf"), 0600) == 0, "mkfifo");
        t0 = now_monotonic_ns();
        r = config_load(tpath("fifo.conf"), NULL, CONFIG_LOAD_MAIN_REQUIRED, &c, &errors);
        CHECK(r == -EINVAL && errors && strstr(errors[0], "not a regular file (a FIFO)"),
              "a FIFO as the config is an error: %s", errors ? errors[0] : "(none)");
        CHECK(now_monotonic_ns() - t0 < 5000000000ULL, "... at once");
        errors = strv_free(errors);
        r = config_load("/dev/zero", NULL, CONFIG_LOAD_MAIN_REQUIRED, &c, &errors);
        CHECK(r == -EINVAL && errors && strstr(errors[0], "not a regular file (a character device)"),
              "/dev/zero as the config is an error, not an endless read: %s", errors ? errors[0] : "(none)");
        errors = strv_free(errors);

        /* A FIFO in conf.d is skipped like a directory. */
        make_dir("h1");
        make_dir("h1/conf.d");
        CHECK(mkfifo(tpath("h1/conf.d/10-fifo.conf"), 0600) == 0, "mkfifo in conf.d");
        write_file("h1/conf.d/20-ok.conf", "[policy]\nsustain_s = 4\n");
        r = config_load(NULL, tpath("h1/conf.d"), 0, &c, &errors);
        CHECK_INT(r, 0, "a FIFO in conf.d is skipped");
        c = config_free(c);
        errors = strv_free(errors);

        /* A link is followed (the whole-file reader refuses links only in
         * the state directory): /etc may link a drop-in or the config. */
        CHECK(symlink("20-ok.conf", tpath("h1/conf.d/30-link.conf")) == 0, "symlink in conf.d");
        CHECK(symlink("conf.d/20-ok.conf", tpath("h1/linked.conf")) == 0, "symlink as the config");
        r = config_load(tpath("h1/linked.conf"), tpath("h1/conf.d"), CONFIG_LOAD_MAIN_REQUIRED, &c, &errors);
        CHECK(r == 0 && !errors, "a config and a drop-in that are symbolic links are read: %s",
              errors ? errors[0] : "(no error)");
        c = config_free(c);
        errors = strv_free(errors);
        (void) unlink(tpath("h1/conf.d/30-link.conf"));
        (void) unlink(tpath("h1/linked.conf"));

        /* A file past the size bound is not read. */
        memset(line, 'x', CONF_MAX_FILE_SIZE + 1);
        write_bytes("h1/huge.conf", line, CONF_MAX_FILE_SIZE + 1);
        r = config_load(tpath("h1/huge.conf"), NULL, 0, &c, &errors);
        CHECK(r == -EINVAL && errors && strstr(errors[0], "larger than") && strlen(errors[0]) < 300,
              "a file past CONF_MAX_FILE_SIZE is an error: %s", errors ? errors[0] : "(none)");
        errors = strv_free(errors);

        /* A huge bad line is quoted by its start only. */
        memcpy(line, "[policy]\n", 9);
        line[big] = '\n';
        write_bytes("h1/long.conf", line, big + 1);
        r = config_load(tpath("h1/long.conf"), NULL, 0, &c, &errors);
        CHECK(r == -EINVAL && errors && strlen(errors[0]) <= CONF_MAX_ERROR + PATH_MAX + 64 &&
                      strstr(errors[0], "(cut: "),
              "a %zu-byte bad line gives a short error (%zu bytes)", big, errors ? strlen(errors[0]) : 0);
        if (errors)
                tap_diag("%s", errors[0]);
        errors = strv_free(errors);

        /* Half a million bad lines: CONF_MAX_ERRORS listed, the rest
         * counted, in linear time. */
        {
                size_t n_lines = 500000, len = 9 + 2 * n_lines;
                char *many = malloc(len);

                memcpy(many, "[policy]\n", 9);
                for (size_t i = 0; i < n_lines; i++)
                        memcpy(many + 9 + 2 * i, "x\n", 2);
                write_bytes("h1/many-errors.conf", many, len);
                free(many);
                t0 = now_monotonic_ns();
                r = config_load(tpath("h1/many-errors.conf"), NULL, 0, &c, &errors);
                tap_diag("%zu bad lines checked in %.1f ms", n_lines, (now_monotonic_ns() - t0) / 1e6);
                CHECK(r == -EINVAL && strv_length(errors) == CONF_MAX_ERRORS + 1,
                      "%zu bad lines: %d errors listed and one more line (%zu)", n_lines, CONF_MAX_ERRORS,
                      strv_length(errors));
                CHECK(errors && strv_length(errors) == CONF_MAX_ERRORS + 1 &&
                              streq(errors[CONF_MAX_ERRORS] + strcspn(errors[CONF_MAX_ERRORS], ":"),
                                    ": ... and 499900 more errors") &&
                              strncmp(errors[CONF_MAX_ERRORS], tpath("h1/many-errors.conf"),
                                      strlen(tpath("h1/many-errors.conf"))) == 0,
                      "... which counts the rest: %s", errors && strv_length(errors) > CONF_MAX_ERRORS ?
                                                              errors[CONF_MAX_ERRORS] : "(none)");
                errors = strv_free(errors);
        }
        free(line);

        /* Past CONF_MAX_DROPINS drop-ins: a clear error. */
        make_dir("h2");
        for (int i = 0; i <= CONF_MAX_DROPINS; i++) {
                char name[64];

                snprintf(name, sizeof(name), "h2/%05d.conf", i);
                write_file(name, "[policy]\nsustain_s = 4\n");
        }
        t0 = now_monotonic_ns();
        r = config_load(NULL, tpath("h2"), 0, &c, &errors);
        CHECK(r == -EINVAL && errors && strstr(errors[0], "more than 1000 drop-ins"),
              "%d drop-ins are refused: %s", CONF_MAX_DROPINS + 1, errors ? errors[0] : "(none)");
        errors = strv_free(errors);
        CHECK(unlink(tpath("h2/01000.conf")) == 0, "unlink");
        t0 = now_monotonic_ns();
        r = config_load(NULL, tpath("h2"), 0, &c, &errors);
        CHECK_INT(r, 0, "CONF_MAX_DROPINS drop-ins load");
        tap_diag("%d drop-ins loaded in %.1f ms", CONF_MAX_DROPINS, (now_monotonic_ns() - t0) / 1e6);
        if (c)
                CHECK_INT(strv_length((char **) config_files(c)), CONF_MAX_DROPINS, "... every one of them");
}

static void test_precedence(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *explain = NULL, *dump = NULL;
        const ConfSection *sections;
        size_t n_sections, dump_size = 0;
        DevicePolicy p;
        FILE *f;
        int r;

        tap_diag("precedence and origins");
        r = load_text("[policy]\n"                  /* 1 */
                      "sustain_s = 1\n"             /* 2 */
                      "default = strict\n"          /* 3 */
                      "[class ethernet]\n"          /* 4 */
                      "sustain_s = 2\n"             /* 5 */
                      "min_dwell_s = 20\n"          /* 6 */
                      "allow_rebind = yes\n"        /* 7 */
                      "[driver e1000e]\n"           /* 8 */
                      "sustain_s = 3\n"             /* 9 */
                      "min_dwell_s = 30\n"          /* 10 */
                      "[device 0000:3b:00.0]\n"     /* 11 */
                      "sustain_s = 4\n"             /* 12 */
                      "policy = identity\n"         /* 13 */
                      "[driver nvme]\n"             /* 14 */
                      "policy = lazy\n",            /* 15 */
                      &c, &errors);
        CHECK_INT(r, 0, "loads");
        if (r < 0)
                return;

        sections = config_sections(c, &n_sections);
        CHECK_INT(n_sections, 4, "four sections");
        CHECK_INT(sections[0].scope, CONF_SCOPE_CLASS, "first section is the class");
        CHECK_STR(sections[0].name, "ethernet", "class name");
        CHECK_INT(sections[0].values.policy.origin.scope, CONF_SCOPE_UNSET, "unset in section");
        CHECK_INT(sections[2].values.policy.policy, POLICY_MODE_IDENTITY, "identity in [device]");

        /* All four layers. */
        CHECK_INT(config_resolve_device(c, "0000:3b:00.0", "e1000e", "ethernet", &p), 0,
                  "resolve");
        CHECK_INT(p.sustain_s.u, 4, "device wins");
        CHECK_INT(p.sustain_s.origin.scope, CONF_SCOPE_DEVICE, "from device");
        CHECK_STR(p.sustain_s.origin.section, "0000:3b:00.0", "device section");
        CHECK_INT(p.sustain_s.origin.line, 12, "device line");
        CHECK_INT(p.min_dwell_s.u, 30, "driver beats class");
        CHECK_INT(p.min_dwell_s.origin.scope, CONF_SCOPE_DRIVER, "from driver");
        CHECK_INT(p.allow_rebind.b, true, "class beats policy");
        CHECK_INT(p.allow_rebind.origin.scope, CONF_SCOPE_CLASS, "from class");
        CHECK_INT(p.policy.policy, POLICY_MODE_IDENTITY, "policy from device");
        CHECK_INT(p.max_switches_per_hour.u, 4, "built-in default");
        CHECK_INT(p.max_switches_per_hour.origin.scope, CONF_SCOPE_BUILTIN, "from built-in");

        explain = config_explain(key(CONF_SCOPE_POLICY, "sustain_s"), &p.sustain_s);
        {
                _cleanup_free_ char *w = subst("sustain_s = 4 (from [device 0000:3b:00.0] at @:12)",
                                               tpath("main.conf"));
                CHECK_STR(explain, w, "explain device value");
        }
        free(explain);
        explain = config_explain(key(CONF_SCOPE_POLICY, "default"), &p.policy);
        {
                _cleanup_free_ char *w = subst("policy = identity (from [device 0000:3b:00.0] "
                                               "at @:13)", tpath("main.conf"));
                CHECK_STR(explain, w, "explain uses the scoped name");
        }
        free(explain);
        explain = config_explain(key(CONF_SCOPE_POLICY, "max_switches_per_hour"),
                                 &p.max_switches_per_hour);
        CHECK_STR(explain, "max_switches_per_hour = 4 (built-in default)", "explain built-in");
        free(explain);
        explain = config_explain(key(CONF_SCOPE_DAEMON, "mode"), &config_daemon(c)->mode);
        CHECK_STR(explain, "mode = enforce (built-in default)", "explain daemon key");

        /* Driver and class only. */
        CHECK_INT(config_resolve_device(c, "0000:00:1f.6", "e1000e", "ethernet", &p), 0,
                  "resolve");
        CHECK_INT(p.sustain_s.u, 3, "driver wins");
        CHECK_INT(p.sustain_s.origin.line, 9, "driver line");
        CHECK_STR(p.sustain_s.origin.section, "e1000e", "driver section");
        CHECK_INT(p.policy.policy, POLICY_MODE_STRICT, "policy from [policy]");
        CHECK_INT(p.policy.origin.scope, CONF_SCOPE_POLICY, "from [policy]");
        CHECK_INT(p.policy.origin.line, 3, "[policy] line");

        /* Class only; driver without a section. */
        CHECK_INT(config_resolve_device(c, "0000:01:00.0", "igb", "ethernet", &p), 0, "resolve");
        CHECK_INT(p.sustain_s.u, 2, "class wins");
        CHECK_INT(p.min_dwell_s.u, 20, "class min_dwell");
        CHECK_STR(p.min_dwell_s.origin.section, "ethernet", "class section");

        /* Nothing matches; unbound device. */
        CHECK_INT(config_resolve_device(c, "0000:02:00.0", NULL, NULL, &p), 0, "resolve");
        CHECK_INT(p.sustain_s.u, 1, "[policy] value");
        CHECK_INT(p.sustain_s.origin.scope, CONF_SCOPE_POLICY, "from [policy]");
        CHECK_INT(p.min_dwell_s.u, 300, "built-in value");
        CHECK_INT(p.min_dwell_s.origin.scope, CONF_SCOPE_BUILTIN, "built-in");

        /* A class word equal to a driver name does not match the driver. */
        CHECK_INT(config_resolve_device(c, "0000:03:00.0", NULL, "nvme", &p), 0, "resolve");
        CHECK_INT(p.policy.policy, POLICY_MODE_STRICT, "[driver nvme] is not [class nvme]");
        CHECK_INT(config_resolve_device(c, "0000:03:00.0", "nvme", "storage", &p), 0, "resolve");
        CHECK_INT(p.policy.policy, POLICY_MODE_LAZY, "[driver nvme]");

        CHECK_INT(config_resolve_device(c, NULL, NULL, NULL, &p), -EINVAL, "no bdf");

        /* config_explain_device() writes one line per per-device key. */
        f = open_memstream(&dump, &dump_size);
        CHECK_INT(config_resolve_device(c, "0000:3b:00.0", "e1000e", "ethernet", &p), 0,
                  "resolve");
        CHECK_INT(config_explain_device(&p, f), 0, "explain device");
        fclose(f);
        {
                _cleanup_free_ char *w = subst(
                        "policy = identity (from [device 0000:3b:00.0] at @:13)\n"
                        "lazy_above_unmaps_per_sec = 1000 (built-in default)\n"
                        "strict_below_unmaps_per_sec = 10 (built-in default)\n"
                        "sustain_s = 4 (from [device 0000:3b:00.0] at @:12)\n"
                        "min_dwell_s = 30 (from [driver e1000e] at @:10)\n"
                        "max_switches_per_hour = 4 (built-in default)\n"
                        "allow_rebind = yes (from [class ethernet] at @:7)\n"
                        "allow_lazy_when_kernel_forced_strict = no (built-in default)\n"
                        "flush_cost_ns = 0 (built-in default)\n"
                        "require_exact_rate = no (built-in default)\n",
                        tpath("main.conf"));
                CHECK(streq(dump, w), "explain_device output");
                if (!streq(dump, w)) {
                        _cleanup_free_ char *got = oneline(dump);

                        tap_diag("got: %s", got);
                }
        }
}

/* config_dump() output is a config that loads to the same values. */
static void test_dump_roundtrip(void) {
        _cleanup_(config_freep) Config *c = NULL, *c2 = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *dump = NULL;
        size_t size = 0, n, n1, n2, nk;
        const ConfSection *s1, *s2;
        const ConfKey *keys = conf_keys(&nk);
        FILE *f;

        tap_diag("dump round trip");
        CHECK_INT(load_text("[daemon]\nmode = advise\nsocket = /tmp/s\n[policy]\ndefault = keep\n"
                            "[device 0000:3b:00.0]\npolicy = identity\n[class gpu]\n"
                            "sustain_s = 9\n",
                            &c, &errors),
                  0, "loads");
        if (!c)
                return;
        f = open_memstream(&dump, &size);
        CHECK_INT(config_dump(c, f), 0, "dump");
        fclose(f);
        write_file("dump.conf", dump);
        CHECK_INT(config_load(tpath("dump.conf"), NULL, 0, &c2, &errors), 0, "dump loads");
        if (!c2)
                return;
        for (size_t i = 0; i < nk; i++) {
                const ConfKey *k = keys + i;
                const void *a = k->section == CONF_SCOPE_DAEMON ? (const void *) config_daemon(c)
                                                                 : config_policy(c);
                const void *b = k->section == CONF_SCOPE_DAEMON ? (const void *) config_daemon(c2)
                                                                 : config_policy(c2);
                _cleanup_free_ char *va = conf_value_to_string(k, conf_key_value(k, a));
                _cleanup_free_ char *vb = conf_value_to_string(k, conf_key_value(k, b));

                CHECK_STR(vb, va, k->name);
        }
        s1 = config_sections(c, &n1);
        s2 = config_sections(c2, &n2);
        CHECK_INT(n2, n1, "same sections");
        for (n = 0; n < n1 && n < n2; n++) {
                CHECK_INT(s2[n].scope, s1[n].scope, "section scope");
                CHECK_STR(s2[n].name, s1[n].name, "section name");
        }
        if (n2 == 2) {
                CHECK_INT(s2[0].values.policy.policy, POLICY_MODE_IDENTITY, "identity survives");
                CHECK_INT(s2[1].values.sustain_s.u, 9, "section value survives");
                CHECK_INT(s2[1].values.policy.origin.scope, CONF_SCOPE_UNSET, "unset stays unset");
        }
}

static char *read_all(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");
        FILE *m;
        int ch;

        if (!f)
                return NULL;
        m = open_memstream(&buf, &size);
        while ((ch = fgetc(f)) != EOF)
                fputc(ch, m);
        fclose(m);
        fclose(f);
        return TAKE_PTR(buf);
}

static void test_shipped(void) {
        const char *shipped = getenv("SHIPPED_CONF");
        _cleanup_free_ char *text = NULL, *generated = NULL, *uncommented = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        size_t size = 0, n, nk, line = 1;
        const ConfKey *keys = conf_keys(&nk);
        const ConfSection *sections;
        const char *a, *b;
        FILE *f;
        int r;

        tap_diag("shipped conf/iommutuned.conf");
        CHECK(shipped, "SHIPPED_CONF is set");
        if (!shipped)
                return;
        text = read_all(shipped);
        CHECK(text, "%s is readable", shipped);
        if (!text)
                return;

        /* It is exactly what the table generates. */
        f = open_memstream(&generated, &size);
        config_write_template(f);
        fclose(f);
        for (a = text, b = generated; *a && *a == *b; a++, b++)
                if (*a == '\n')
                        line++;
        CHECK(!*a && !*b, "shipped file matches config_write_template() (first difference at "
                          "line %zu; regenerate with test-conf --write-template)", line);

        /* As shipped it changes nothing. */
        r = config_load(shipped, NULL, CONFIG_LOAD_MAIN_REQUIRED, &c, &errors);
        CHECK_INT(r, 0, "shipped file loads");
        for (char **e = errors; e && *e; e++)
                tap_diag("%s", *e);
        if (c) {
                for (size_t i = 0; i < nk; i++) {
                        const void *settings = keys[i].section == CONF_SCOPE_DAEMON ?
                                                       (const void *) config_daemon(c) :
                                                       config_policy(c);

                        CHECK_INT(conf_key_value(keys + i, settings)->origin.scope,
                                  CONF_SCOPE_BUILTIN, keys[i].name);
                }
                config_sections(c, &n);
                CHECK_INT(n, 0, "no sections");
        }
        c = config_free(c);
        errors = strv_free(errors);

        /* With every "#key = value" and "#[section]" line uncommented, every key
         * is set in its own section to its default, and the examples are valid. */
        f = open_memstream(&uncommented, &size);
        for (const char *l = text; *l; l++) {
                if ((l == text || l[-1] == '\n') && l[0] == '#' &&
                    ((l[1] >= 'a' && l[1] <= 'z') || l[1] == '['))
                        continue;
                fputc(*l, f);
        }
        fclose(f);
        write_file("uncommented.conf", uncommented);
        r = config_load(tpath("uncommented.conf"), NULL, 0, &c, &errors);
        CHECK_INT(r, 0, "uncommented shipped file loads");
        for (char **e = errors; e && *e; e++)
                tap_diag("%s", *e);
        if (!c)
                return;
        for (size_t i = 0; i < nk; i++) {
                const ConfKey *k = keys + i;
                const void *settings = k->section == CONF_SCOPE_DAEMON ?
                                               (const void *) config_daemon(c) : config_policy(c);
                const ConfValue *v = conf_key_value(k, settings);
                _cleanup_free_ char *s = conf_value_to_string(k, v);

                CHECK(v->origin.scope == k->section, "%s is documented in its section", k->name);
                CHECK_STR(s, k->default_value, k->name);
        }
        sections = config_sections(c, &n);
        CHECK_INT(n, 3, "three example sections");
        if (n == 3) {
                CHECK_INT(sections[0].scope, CONF_SCOPE_DEVICE, "device example");
                CHECK_INT(sections[1].scope, CONF_SCOPE_DRIVER, "driver example");
                CHECK_INT(sections[2].scope, CONF_SCOPE_CLASS, "class example");
        }
}

static void test_template_names_every_key(void) {
        _cleanup_free_ char *generated = NULL;
        size_t size = 0, nk;
        const ConfKey *keys = conf_keys(&nk);
        FILE *f = open_memstream(&generated, &size);

        tap_diag("template");
        config_write_template(f);
        fclose(f);
        for (size_t i = 0; i < nk; i++) {
                _cleanup_free_ char *line = NULL;

                CHECK(asprintf(&line, "\n#%s = %s\n", keys[i].name, keys[i].default_value) > 0,
                      "asprintf");
                CHECK(strstr(generated, line), "template has %s", keys[i].name);
                CHECK(keys[i].help && *keys[i].help, "%s has help", keys[i].name);
        }
}

int main(int argc, char *argv[]) {
        if (argc == 3 && streq(argv[1], "--write-template")) {
                FILE *f = fopen(argv[2], "we");

                if (!f) {
                        perror(argv[2]);
                        return 1;
                }
                config_write_template(f);
                return fclose(f) == 0 ? 0 : 1;
        }

        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }

        test_defaults();
        test_enums();
        test_every_key();
        test_booleans();
        test_syntax();
        test_errors();
        test_dropins();
        test_hostile_files();
        test_precedence();
        test_dump_roundtrip();
        test_template_names_every_key();
        test_shipped();

        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return tap_done();
}
