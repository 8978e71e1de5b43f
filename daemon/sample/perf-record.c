/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "perf-record.h"
#include "util.h"

/* ---- format files ------------------------------------------------------ */

/* Reads "<key>:<decimal>;" at *p (after blanks); advances past it. */
static int read_keyed(const char **p, const char *key, unsigned *ret) {
        const char *s = *p;
        size_t klen = strlen(key);
        unsigned long v;
        char *end;

        while (*s == ' ' || *s == '\t')
                s++;
        if (strncmp(s, key, klen) != 0 || s[klen] != ':')
                return -EBADMSG;
        s += klen + 1;
        if (!isdigit((unsigned char) *s))
                return -EBADMSG;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end != ';' || v > UINT32_MAX)
                return -EBADMSG;
        *ret = (unsigned) v;
        *p = end + 1;
        return 0;
}

static char *strndup_trim(const char *s, size_t len) {
        while (len > 0 && isspace((unsigned char) *s))
                s++, len--;
        while (len > 0 && isspace((unsigned char) s[len - 1]))
                len--;
        return strndup(s, len);
}

/* "field:<decl>;\toffset:N;\tsize:N;\tsigned:N;" */
static int parse_field(const char *line, size_t len, TraceField *f) {
        _cleanup_free_ char *copy = strndup(line, len);
        const char *p, *semi, *name_start, *name_end;
        unsigned is_signed = 0;
        int r;

        if (!copy)
                return -ENOMEM;
        p = copy + strlen("field:");
        semi = strchr(p, ';');
        if (!semi)
                return -EBADMSG;
        /* The name is the last word of the declaration, maybe with [N]. */
        name_end = semi;
        while (name_end > p && isspace((unsigned char) name_end[-1]))
                name_end--;
        const char *bracket = NULL;
        if (name_end > p && name_end[-1] == ']') {
                bracket = name_end - 1;
                while (bracket > p && *bracket != '[')
                        bracket--;
                if (*bracket != '[')
                        return -EBADMSG;
        }
        const char *ident_end = bracket ? bracket : name_end;
        name_start = ident_end;
        while (name_start > p && (isalnum((unsigned char) name_start[-1]) || name_start[-1] == '_'))
                name_start--;
        if (name_start == ident_end || name_start == p)
                return -EBADMSG;
        if (bracket && bracket + 1 < name_end - 1) {
                char *end;
                unsigned long n = strtoul(bracket + 1, &end, 10);

                if (end != name_end - 1 || n == 0 || n > UINT32_MAX)
                        return -EBADMSG;
                f->array_len = (unsigned) n;
        }
        f->name = strndup(name_start, (size_t) (ident_end - name_start));
        f->type = strndup_trim(p, (size_t) (name_start - p));
        if (!f->name || !f->type)
                return -ENOMEM;
        if (isempty(f->type))
                return -EBADMSG;
        f->data_loc = strncmp(f->type, "__data_loc", 10) == 0;
        f->rel_loc = strncmp(f->type, "__rel_loc", 9) == 0;

        p = semi + 1;
        if ((r = read_keyed(&p, "offset", &f->offset)) < 0 || (r = read_keyed(&p, "size", &f->size)) < 0)
                return r;
        /* "signed:" since 2.6.32; treat its absence as unsigned. */
        if (read_keyed(&p, "signed", &is_signed) == 0)
                f->is_signed = is_signed != 0;
        if (f->offset > UINT16_MAX || f->size == 0 || f->size > UINT16_MAX)
                return -EBADMSG;
        if ((f->data_loc || f->rel_loc) && f->size != 4)
                return -EBADMSG;
        return 0;
}

static void field_done(TraceField *f) {
        free(f->name);
        free(f->type);
}

int trace_format_parse(const char *text, TraceFormat *ret) {
        TraceFormat f = {};
        size_t allocated = 0;
        const char *line, *nl;
        int r = 0;

        *ret = (TraceFormat) {};
        if (!text)
                return -EINVAL;
        for (line = text; *line; line = nl ? nl + 1 : line + strlen(line)) {
                const char *s = line;
                size_t len;

                nl = strchr(line, '\n');
                len = nl ? (size_t) (nl - line) : strlen(line);
                while (len > 0 && (*s == ' ' || *s == '\t'))
                        s++, len--;
                if (len > 5 && strncmp(s, "name:", 5) == 0 && !f.name) {
                        if (!(f.name = strndup_trim(s + 5, len - 5))) {
                                r = -ENOMEM;
                                break;
                        }
                } else if (len > 3 && strncmp(s, "ID:", 3) == 0) {
                        _cleanup_free_ char *v = strndup_trim(s + 3, len - 3);

                        if (!v) {
                                r = -ENOMEM;
                                break;
                        }
                        if (safe_atou64(v, &f.id) < 0) {
                                r = -EBADMSG;
                                break;
                        }
                } else if (len > 6 && strncmp(s, "field:", 6) == 0) {
                        if (greedy_realloc((void **) &f.fields, &allocated, f.n_fields + 1,
                                           sizeof(TraceField)) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        f.fields[f.n_fields] = (TraceField) {};
                        r = parse_field(s, len, &f.fields[f.n_fields]);
                        f.n_fields++;
                        if (r < 0)
                                break;
                } else if (len > 11 && strncmp(s, "print fmt:", 10) == 0)
                        break;
        }
        if (r == 0 && f.n_fields == 0)
                r = -EBADMSG;
        if (r < 0) {
                trace_format_done(&f);
                return r;
        }
        *ret = f;
        return 0;
}

void trace_format_done(TraceFormat *f) {
        for (size_t i = 0; i < f->n_fields; i++)
                field_done(&f->fields[i]);
        free(f->fields);
        free(f->name);
        *f = (TraceFormat) {};
}

const TraceField *trace_format_field(const TraceFormat *f, const char *name) {
        for (size_t i = 0; i < f->n_fields; i++)
                if (streq(f->fields[i].name, name))
                        return &f->fields[i];
        return NULL;
}

/* ---- raw tracepoint records --------------------------------------------- */

int trace_field_u64(const TraceField *f, const void *raw, size_t raw_size, uint64_t *ret) {
        const uint8_t *p = raw;

        if (f->data_loc || f->rel_loc || f->array_len)
                return -EINVAL;
        if ((size_t) f->offset + f->size > raw_size)
                return -EBADMSG;
        p += f->offset;
        switch (f->size) {
        case 1: {
                uint8_t v = p[0];
                *ret = f->is_signed ? (uint64_t) (int64_t) (int8_t) v : v;
                return 0;
        }
        case 2: {
                uint16_t v;
                memcpy(&v, p, 2);
                *ret = f->is_signed ? (uint64_t) (int64_t) (int16_t) v : v;
                return 0;
        }
        case 4: {
                uint32_t v;
                memcpy(&v, p, 4);
                *ret = f->is_signed ? (uint64_t) (int64_t) (int32_t) v : v;
                return 0;
        }
        case 8:
                memcpy(ret, p, 8);
                return 0;
        default:
                return -EINVAL;
        }
}

int trace_field_string(const TraceField *f, const void *raw, size_t raw_size, char *buf,
                       size_t size) {
        const uint8_t *p = raw;
        size_t off, len, n;

        if (size == 0)
                return -ENOBUFS;
        if ((size_t) f->offset + f->size > raw_size)
                return -EBADMSG;
        if (f->data_loc || f->rel_loc) {
                uint32_t loc;

                memcpy(&loc, p + f->offset, 4);
                off = loc & 0xffff;
                len = loc >> 16;
                if (f->rel_loc)
                        off += (size_t) f->offset + 4;
        } else if (f->array_len && f->size == f->array_len) {
                off = f->offset;
                len = f->size;
        } else
                return -EINVAL;
        if (off + len > raw_size)
                return -EBADMSG;
        n = strnlen((const char *) p + off, len);
        if (n >= size) {
                memcpy(buf, p + off, size - 1);
                buf[size - 1] = '\0';
                return -ENOBUFS;
        }
        memcpy(buf, p + off, n);
        buf[n] = '\0';
        return (int) n;
}

/* ---- ring records -------------------------------------------------------- */

typedef struct Cursor {
        const uint8_t *p;
        size_t left;
} Cursor;

static bool take(Cursor *c, void *out, size_t n) {
        if (c->left < n)
                return false;
        if (out)
                memcpy(out, c->p, n);
        c->p += n;
        c->left -= n;
        return true;
}

int perf_sample_parse(const uint8_t *body, size_t size, uint64_t sample_type, PerfSample *ret) {
        Cursor c = { body, size };
        PerfSample s = {};
        uint32_t pair[2];

        if (sample_type & ~(uint64_t) PERF_RING_SAMPLE_TYPES)
                return -EBADMSG;
        if ((sample_type & PERF_SAMPLE_IDENTIFIER) && !take(&c, &s.id, 8))
                return -EBADMSG;
        if ((sample_type & PERF_SAMPLE_IP) && !take(&c, &s.ip, 8))
                return -EBADMSG;
        if (sample_type & PERF_SAMPLE_TID) {
                if (!take(&c, pair, 8))
                        return -EBADMSG;
                s.pid = pair[0];
                s.tid = pair[1];
        }
        if ((sample_type & PERF_SAMPLE_TIME) && !take(&c, &s.time, 8))
                return -EBADMSG;
        if ((sample_type & PERF_SAMPLE_ADDR) && !take(&c, &s.addr, 8))
                return -EBADMSG;
        if ((sample_type & PERF_SAMPLE_ID) && !take(&c, &s.id, 8))
                return -EBADMSG;
        if ((sample_type & PERF_SAMPLE_STREAM_ID) && !take(&c, &s.stream_id, 8))
                return -EBADMSG;
        if (sample_type & PERF_SAMPLE_CPU) {
                if (!take(&c, pair, 8))
                        return -EBADMSG;
                s.cpu = pair[0];
        }
        if ((sample_type & PERF_SAMPLE_PERIOD) && !take(&c, &s.period, 8))
                return -EBADMSG;
        if (sample_type & PERF_SAMPLE_RAW) {
                if (!take(&c, &s.raw_size, 4) || c.left < s.raw_size)
                        return -EBADMSG;
                s.raw = c.p;
        }
        *ret = s;
        return 0;
}

/* Copies n bytes from ring position pos (which may wrap) to out. */
static void ring_copy(const uint8_t *data, size_t data_size, uint64_t pos, void *out, size_t n) {
        size_t off = (size_t) (pos & (data_size - 1)), first = data_size - off;

        if (first >= n)
                memcpy(out, data + off, n);
        else {
                memcpy(out, data + off, first);
                memcpy((uint8_t *) out + first, data, n - first);
        }
}

uint64_t perf_ring_parse(const uint8_t *data, size_t data_size, uint64_t tail, uint64_t head,
                         uint64_t sample_type, uint8_t *scratch, PerfSampleFn fn, void *userdata,
                         PerfRingStats *stats) {
        uint64_t pos = tail;

        if (data_size == 0 || (data_size & (data_size - 1))) {
                stats->malformed++;
                return head;
        }
        if (head - tail > data_size) {
                stats->overruns++;
                return head;
        }
        while (pos != head) {
                struct perf_event_header h;
                const uint8_t *rec;
                size_t off;

                if (head - pos < sizeof(h)) {
                        stats->truncated++;
                        break;
                }
                ring_copy(data, data_size, pos, &h, sizeof(h));
                if (h.size < sizeof(h)) {
                        stats->malformed++;
                        break;
                }
                if (h.size > head - pos) {
                        stats->truncated++;
                        break;
                }
                off = (size_t) (pos & (data_size - 1));
                if (off + h.size <= data_size)
                        rec = data + off;
                else {
                        ring_copy(data, data_size, pos, scratch, h.size);
                        rec = scratch;
                }
                pos += h.size;
                stats->bytes += h.size;

                if (h.type == PERF_RECORD_SAMPLE) {
                        PerfSample s;

                        if (perf_sample_parse(rec + sizeof(h), h.size - sizeof(h), sample_type, &s) < 0) {
                                stats->malformed++;
                                continue;
                        }
                        stats->samples++;
                        if (fn && fn(&s, userdata) < 0)
                                return pos;
                } else if (h.type == PERF_RECORD_LOST) {
                        uint64_t body[2];

                        if (h.size < sizeof(h) + sizeof(body)) {
                                stats->malformed++;
                                continue;
                        }
                        memcpy(body, rec + sizeof(h), sizeof(body));
                        stats->lost_records++;
                        stats->lost += body[1];
                } else
                        stats->other++;
        }
        /* Whatever could not be parsed is dropped: head is the only
         * position known to start a record. */
        stats->bytes += head - pos;
        return head;
}
