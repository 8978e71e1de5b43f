/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Group lookups in a child: the answers of this machine's group database,
 * and none of its NSS modules left mapped in the caller (on Debian a name
 * that /etc/group lacks is asked of libnss_systemd next).
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>

#include "group-lookup.h"
#include "tap.h"
#include "util.h"

/* Whether a library whose name holds "libnss_" is mapped here. */
static bool nss_module_mapped(void) {
        FILE *f = fopen("/proc/self/maps", "re");
        char line[512];
        bool found = false;

        while (f && !found && fgets(line, sizeof(line), f))
                found = strstr(line, "/libnss_") != NULL;
        if (f)
                fclose(f);
        return found;
}

int main(void) {
        gid_t gid = 12345;
        int q;

        CHECK(!nss_module_mapped(), "no NSS module mapped before the lookups");
        q = group_lookup_gid("root", &gid);
        CHECK(q == 0 && gid == 0, "root: %s, gid %u", q < 0 ? strerror(-q) : "found", (unsigned) gid);
        CHECK_INT(group_lookup_gid("iommutuned-test-no-such-group", &gid), -ENOENT, "a group that does not exist");
        CHECK_INT(group_lookup_gid("", &gid), -EINVAL, "an empty name");
        CHECK(!nss_module_mapped(), "no NSS module mapped after them: they ran in the child");
        /* The same question asked here, the way the daemon used to. */
        CHECK(getgrnam("iommutuned-test-no-such-group") == NULL, "the in-process lookup agrees: no such group");
        tap_diag("an in-process lookup left an NSS module mapped: %s",
                 nss_module_mapped() ? "yes (what the child spares the daemon)" : "no (nsswitch.conf has only files)");
        return tap_done();
}
