/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Rendering a configuration: values, origins, explanations, the effective
 * config, and the documented template. Uses only conf.h. */
#include <inttypes.h>
#include <stdio.h>

#include "conf.h"
#include "util.h"

char *conf_value_to_string(const ConfKey *k, const ConfValue *v) {
        char *s = NULL;

        switch (k->type) {
        case CONF_TYPE_UINT:
                if (asprintf(&s, "%" PRIu64, v->u) < 0)
                        return NULL;
                return s;
        case CONF_TYPE_BOOL:
                return strdup(v->b ? "yes" : "no");
        case CONF_TYPE_POLICY:
                return strdup(strna(policy_mode_to_string(v->policy)));
        case CONF_TYPE_DAEMON_MODE:
                return strdup(strna(daemon_mode_to_string(v->mode)));
        case CONF_TYPE_PATH:
        case CONF_TYPE_GROUP:
                return strdup(v->s ?: "");
        default:
                return strdup("?");
        }
}

char *conf_origin_to_string(const ConfOrigin *o) {
        char *s = NULL;
        int r;

        if (o->scope == CONF_SCOPE_UNSET)
                return strdup("unset");
        if (o->scope == CONF_SCOPE_BUILTIN || !o->file)
                return strdup("built-in default");
        if (o->section)
                r = asprintf(&s, "[%s %s] at %s:%u", conf_scope_to_string(o->scope), o->section,
                             o->file, o->line);
        else
                r = asprintf(&s, "[%s] at %s:%u", conf_scope_to_string(o->scope), o->file,
                             o->line);
        return r < 0 ? NULL : s;
}

char *config_explain(const ConfKey *k, const ConfValue *v) {
        _cleanup_free_ char *value = conf_value_to_string(k, v), *origin = NULL;
        const char *name = k->scoped_name ?: k->name;
        char *s = NULL;
        int r;

        if (!value)
                return NULL;
        if (v->origin.scope == CONF_SCOPE_BUILTIN)
                r = asprintf(&s, "%s = %s (built-in default)", name, value);
        else {
                origin = conf_origin_to_string(&v->origin);
                if (!origin)
                        return NULL;
                r = asprintf(&s, "%s = %s (from %s)", name, value, origin);
        }
        return r < 0 ? NULL : s;
}

int config_explain_device(const DevicePolicy *p, FILE *out) {
        size_t n_keys;
        const ConfKey *keys = conf_keys(&n_keys);

        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = keys + i;
                _cleanup_free_ char *line = NULL;

                if (k->section != CONF_SCOPE_POLICY)
                        continue;
                line = config_explain(k, conf_key_value(k, p));
                if (!line)
                        return -ENOMEM;
                fprintf(out, "%s\n", line);
        }
        return 0;
}

/* Writes the keys of one section whose values are set. */
static int dump_section(FILE *out, ConfScope section, bool scoped, const void *settings) {
        size_t n_keys;
        const ConfKey *keys = conf_keys(&n_keys);

        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = keys + i;
                const ConfValue *v = conf_key_value(k, settings);
                _cleanup_free_ char *value = NULL, *origin = NULL;

                if (k->section != section || v->origin.scope == CONF_SCOPE_UNSET)
                        continue;
                value = conf_value_to_string(k, v);
                origin = conf_origin_to_string(&v->origin);
                if (!value || !origin)
                        return -ENOMEM;
                fprintf(out, "%s = %s  # %s\n", scoped ? k->scoped_name : k->name, value, origin);
        }
        return 0;
}

int config_dump(const Config *c, FILE *out) {
        const ConfSection *sections;
        size_t n_sections;
        int r;

        fputs("[daemon]\n", out);
        r = dump_section(out, CONF_SCOPE_DAEMON, false, config_daemon(c));
        if (r < 0)
                return r;
        fputs("\n[policy]\n", out);
        r = dump_section(out, CONF_SCOPE_POLICY, false, config_policy(c));
        if (r < 0)
                return r;
        sections = config_sections(c, &n_sections);
        for (size_t i = 0; i < n_sections; i++) {
                fprintf(out, "\n[%s %s]\n", conf_scope_to_string(sections[i].scope),
                        sections[i].name);
                r = dump_section(out, CONF_SCOPE_POLICY, true, &sections[i].values);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Writes text as "# " comment lines of at most 78 columns. */
static void write_comment(FILE *out, const char *text) {
        const size_t width = 76;

        while (*text) {
                size_t n = strlen(text), cut = n;

                if (n > width) {
                        cut = width;
                        while (cut > 0 && text[cut] != ' ')
                                cut--;
                        if (cut == 0)
                                cut = strcspn(text, " ");
                }
                fprintf(out, "# %.*s\n", (int) cut, text);
                text += cut;
                text += strspn(text, " ");
        }
}

static void write_template_section(FILE *out, ConfScope section) {
        size_t n_keys;
        const ConfKey *keys = conf_keys(&n_keys);
        char expected[128];

        fprintf(out, "[%s]\n", conf_scope_to_string(section));
        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = keys + i;

                if (k->section != section)
                        continue;
                conf_key_describe(k, section, expected, sizeof(expected));
                fputs("\n", out);
                write_comment(out, k->help);
                fprintf(out, "# Takes %s.\n", expected);
                fprintf(out, "#%s = %s\n", k->name, k->default_value);
        }
}

void config_write_template(FILE *out) {
        fputs("# iommutuned.conf: configuration of iommutuned, which switches IOMMU groups\n"
              "# between strict (\"DMA\") and lazy (\"DMA-FQ\") invalidation.\n"
              "#\n", out);
        write_comment(out,
                      "Every setting is listed below, commented out, with its built-in "
                      "default: as shipped, this file changes nothing. Files matching "
                      "conf.d/*.conf next to this file are read after it in lexical order, "
                      "and a value set later wins. Within one file a key may appear only "
                      "once per section.");
        fputs("#\n", out);
        write_comment(out,
                      "Booleans take yes/no, true/false, on/off or 1/0. \"#\" and \";\" start "
                      "a comment at the start of a line or after whitespace. "
                      "\"iommutuned --check-config\" reports every error with its file and "
                      "line.");
        fputs("#\n", out);
        write_comment(out,
                      "This file is generated from the key table in daemon/conf.c; "
                      "tests/test-conf checks that the two agree.");
        fputs("\n", out);
        write_template_section(out, CONF_SCOPE_DAEMON);
        fputs("\n", out);
        write_template_section(out, CONF_SCOPE_POLICY);
        fputs("\n", out);
        write_comment(out,
                      "Sections for some devices override [policy] key by key; the most "
                      "specific wins: [device ADDRESS], then [driver NAME], then [class "
                      "WORD], then [policy], then the built-in default. They take every "
                      "key of [policy], with \"policy\" in place of \"default\". \"policy = "
                      "identity\" (no translation at all) is only allowed in a [device] "
                      "section.");
        fputs("#\n", out);
        write_comment(out,
                      "[device ADDRESS] is one PCI device by its full address in lowercase "
                      "hex; [driver NAME] every device bound to that driver; [class WORD] "
                      "every device of a class as iommuctl names it (nvme, ethernet, gpu, "
                      "storage, usb, ...).");
        fputs("\n"
              "#[device 0000:3b:00.0]\n"
              "#policy = lazy\n"
              "\n"
              "#[driver nvme]\n"
              "#policy = auto\n"
              "#sustain_s = 5\n"
              "\n"
              "#[class ethernet]\n"
              "#allow_rebind = yes\n", out);
}
