/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iommutuned.conf(5) against the key table (conf_keys()), so the manual
 * cannot drift from the code: every key has an entry (".TP" then ".B key")
 * in its section, the entry states the range as the parser's error
 * messages do ("Takes an integer from 0 to 3600.") and the built-in
 * default ("Default: 3."), and every entry in those sections is a key.
 * Usage: test-man-conf PATH/iommutuned.conf.5
 */
#include <stdio.h>

#include "conf.h"
#include "tap.h"
#include "util.h"

typedef struct Entry {
        char section[32]; /* the .SH line's first word: "[daemon]", "[policy]", ... */
        char key[64];
        char text[2048];  /* the paragraph, as words, escapes removed */
} Entry;

/* Appends a source line as plain words: no macro name, no quotes, no
 * escapes that matter here. */
static void append_words(char *text, size_t size, const char *line) {
        size_t len = strlen(text);

        if (line[0] == '.') {
                line = strchr(line, ' ');
                if (!line)
                        return;
                line++;
        }
        if (len && len + 1 < size)
                text[len++] = ' ';
        for (const char *p = line; *p && len + 1 < size; p++) {
                if (*p == '"')
                        continue;
                if (p[0] == '\\' && (p[1] == '-' || p[1] == '~' || p[1] == '&')) {
                        p++;
                        if (*p != '&')
                                text[len++] = *p == '~' ? ' ' : '-';
                        continue;
                }
                if (p[0] == '\\' && p[1] == 'f' && p[2]) { /* \fB, \fR, \fI */
                        p += 2;
                        continue;
                }
                text[len++] = *p;
        }
        text[len] = '\0';
}

static size_t parse_man(FILE *f, Entry *entries, size_t max) {
        char line[1024], section[32] = "";
        size_t n = 0;
        bool after_tp = false, in_entry = false;

        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, ".\\\"", 3) == 0)
                        continue;
                if (strncmp(line, ".SH ", 4) == 0 || strncmp(line, ".SS ", 4) == 0) {
                        sscanf(line + 4, "%31s", section);
                        in_entry = after_tp = false;
                        continue;
                }
                if (streq(line, ".TP")) {
                        after_tp = true;
                        in_entry = false;
                        continue;
                }
                if (after_tp && strncmp(line, ".B ", 3) == 0 && n < max) {
                        entries[n] = (Entry) {};
                        snprintf(entries[n].section, sizeof(entries[n].section), "%s", section);
                        snprintf(entries[n].key, sizeof(entries[n].key), "%.63s", line + 3);
                        n++;
                        in_entry = true;
                } else if (in_entry)
                        append_words(entries[n - 1].text, sizeof(entries[n - 1].text), line);
                after_tp = false;
        }
        return n;
}

static const char *section_of(const ConfKey *k) {
        return k->section == CONF_SCOPE_DAEMON ? "[daemon]" : "[policy]";
}

int main(int argc, char *argv[]) {
        static Entry entries[256];
        size_t n_entries, n_keys;
        const ConfKey *keys = conf_keys(&n_keys);
        FILE *f;

        if (argc != 2) {
                fprintf(stderr, "usage: test-man-conf PATH/iommutuned.conf.5\n");
                return 2;
        }
        f = fopen(argv[1], "re");
        CHECK(f, "open %s", argv[1]);
        if (!f)
                return tap_done();
        n_entries = parse_man(f, entries, ELEMENTSOF(entries));
        fclose(f);

        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = &keys[i];
                const Entry *e = NULL;
                char phrase[256];

                for (size_t j = 0; j < n_entries && !e; j++)
                        if (streq(entries[j].key, k->name) && streq(entries[j].section, section_of(k)))
                                e = &entries[j];
                CHECK(e, "%s %s has an entry", section_of(k), k->name);
                if (!e)
                        continue;
                conf_key_describe(k, k->section, phrase, sizeof(phrase));
                {
                        char takes[300];

                        snprintf(takes, sizeof(takes), "Takes %s.", phrase);
                        CHECK(strstr(e->text, takes), "%s states its range: \"%s\"", k->name, takes);
                }
                snprintf(phrase, sizeof(phrase), "Default: %s.", isempty(k->default_value) ? "nothing" : k->default_value);
                CHECK(strstr(e->text, phrase), "%s states its default: \"%s\"", k->name, phrase);
                if (k->scoped_name && !streq(k->scoped_name, k->name))
                        CHECK(strstr(e->text, k->scoped_name), "%s names what it is called in [device] and the like: %s",
                              k->name, k->scoped_name);
        }
        for (size_t j = 0; j < n_entries; j++) {
                const Entry *e = &entries[j];

                if (streq(e->section, "[daemon]"))
                        CHECK(conf_key_find(CONF_SCOPE_DAEMON, e->key), "the documented [daemon] key %s exists",
                              e->key);
                else if (streq(e->section, "[policy]"))
                        CHECK(conf_key_find(CONF_SCOPE_POLICY, e->key), "the documented [policy] key %s exists",
                              e->key);
        }
        return tap_done();
}
