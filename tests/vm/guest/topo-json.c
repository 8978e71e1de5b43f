/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * topo-json: flattens `iommutuned --dump-topology --json` (stdin) into the
 * plain lines the topology scenario builds from sysfs itself, so the two
 * can be compared with sort and diff:
 *
 *   unit <name>
 *   unit <name> device <bdf>
 *   unit <name> caching_mode <0|1>          (VT-d units)
 *   group <id> type <type>
 *   group <id> device <bdf>
 *   device <bdf> driver <name|-> group <id|-> unit <name|-> class <0xNNNNNN|->
 *          untrusted <0|1|->                (one line)
 *   kernel release <release>
 *   problem <subject>: <message>            (the daemon's own scan problems)
 *
 * Also checks that the top-level keys units, groups, devices and kernel
 * exist. Exits 1 with a message naming what is missing or malformed.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what)
{
	fprintf(stderr, "topo-json: %s\n", what);
	return 1;
}

/* A group id, class or flag printed the way sysfs shows it; "-" if absent. */
static void print_value(json_object *o)
{
	if (!o) {
		fputs("-", stdout);
	} else if (json_object_is_type(o, json_type_int)) {
		long long v = json_object_get_int64(o);

		if (v < 0)
			fputs("-", stdout);
		else
			printf("%lld", v);
	} else if (json_object_is_type(o, json_type_boolean)) {
		fputs(json_object_get_boolean(o) ? "1" : "0", stdout);
	} else if (json_object_is_type(o, json_type_null)) {
		fputs("-", stdout);
	} else {
		const char *s = json_object_get_string(o);

		fputs(s && *s ? s : "-", stdout);
	}
}

/* A PCI class code, given as a number or a hex string, as sysfs prints it. */
static void print_class(json_object *o)
{
	const char *s;

	if (!o || json_object_is_type(o, json_type_null)) {
		fputs("-", stdout);
		return;
	}
	if (json_object_is_type(o, json_type_int)) {
		printf("0x%06llx", (unsigned long long)json_object_get_int64(o));
		return;
	}
	s = json_object_get_string(o);
	printf("0x%06llx", s ? strtoull(s, NULL, 16) : 0ULL);
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

int main(void)
{
	json_object *root, *units, *groups, *devices, *problems, *release;
	json_tokener *tok = json_tokener_new();
	char buf[65536];
	size_t n, len = 0;
	char *text = NULL;

	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		text = realloc(text, len + n + 1);
		if (!text)
			return fail("out of memory");
		memcpy(text + len, buf, n);
		len += n;
	}
	if (!text)
		return fail("no input (expected the JSON of iommutuned --dump-topology --json)");
	text[len] = '\0';
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success)
		return fail("input is not one JSON document");
	if (!json_object_is_type(root, json_type_object))
		return fail("top level is not an object");
	for (const char *const *k = (const char *const[]){ "units", "groups", "devices",
							   "kernel", NULL }; *k; k++)
		if (!member(root, *k)) {
			fprintf(stderr, "topo-json: top-level key '%s' missing\n", *k);
			return 1;
		}
	units = member(root, "units");
	if (!json_object_is_type(units, json_type_array))
		return fail("'units' must be an array");
	for (size_t i = 0; i < json_object_array_length(units); i++) {
		json_object *u = json_object_array_get_idx(units, i);
		json_object *name = member(u, "name"), *devs = member(u, "devices");
		json_object *vtd = member(u, "vtd");

		if (!name || !devs || !json_object_is_type(devs, json_type_array))
			return fail("a unit lacks 'name' or a 'devices' array");
		printf("unit %s\n", json_object_get_string(name));
		for (size_t j = 0; j < json_object_array_length(devs); j++)
			printf("unit %s device %s\n", json_object_get_string(name),
			       json_object_get_string(json_object_array_get_idx(devs, j)));
		if (vtd) {
			printf("unit %s caching_mode ", json_object_get_string(name));
			print_value(member(vtd, "caching_mode"));
			putchar('\n');
		}
	}
	groups = member(root, "groups");
	devices = member(root, "devices");
	if (!json_object_is_type(groups, json_type_array) ||
	    !json_object_is_type(devices, json_type_array))
		return fail("'groups' and 'devices' must be arrays");

	for (size_t i = 0; i < json_object_array_length(groups); i++) {
		json_object *g = json_object_array_get_idx(groups, i);
		json_object *id = member(g, "group"), *type = member(g, "type");
		json_object *devs = member(g, "devices");

		if (!id || !type || !devs || !json_object_is_type(devs, json_type_array))
			return fail("a group lacks 'group', 'type' or a 'devices' array");
		fputs("group ", stdout);
		print_value(id);
		fputs(" type ", stdout);
		print_value(type);
		putchar('\n');
		for (size_t j = 0; j < json_object_array_length(devs); j++) {
			fputs("group ", stdout);
			print_value(id);
			printf(" device %s\n",
			       json_object_get_string(json_object_array_get_idx(devs, j)));
		}
	}
	for (size_t i = 0; i < json_object_array_length(devices); i++) {
		json_object *d = json_object_array_get_idx(devices, i);
		json_object *bdf = member(d, "bdf");

		if (!bdf)
			return fail("a device lacks 'bdf'");
		printf("device %s driver ", json_object_get_string(bdf));
		print_value(member(d, "driver"));
		fputs(" group ", stdout);
		print_value(member(d, "group"));
		fputs(" unit ", stdout);
		print_value(member(d, "unit"));
		fputs(" class ", stdout);
		print_class(member(d, "class_code"));
		fputs(" untrusted ", stdout);
		print_value(member(d, "untrusted"));
		putchar('\n');
	}
	release = member(member(root, "kernel"), "release");
	printf("kernel release %s\n", release ? json_object_get_string(release) : "-");
	problems = member(root, "problems");
	for (size_t i = 0; problems && i < json_object_array_length(problems); i++) {
		json_object *p = json_object_array_get_idx(problems, i);

		printf("problem %s: %s\n", json_object_get_string(member(p, "subject")),
		       json_object_get_string(member(p, "message")));
	}
	json_object_put(root);
	json_tokener_free(tok);
	free(text);
	return 0;
}
