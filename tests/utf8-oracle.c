/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "utf8-oracle.h"

bool utf8_oracle_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;

        for (size_t i = 0; i < n;) {
                unsigned c = p[i], need, min, cp;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0)
                        need = 1, min = 0x80, cp = c & 0x1f;
                else if ((c & 0xf0) == 0xe0)
                        need = 2, min = 0x800, cp = c & 0x0f;
                else if ((c & 0xf8) == 0xf0)
                        need = 3, min = 0x10000, cp = c & 0x07;
                else
                        return false;
                if (i + need >= n)
                        return false;
                for (unsigned k = 1; k <= need; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += need + 1;
        }
        return true;
}
