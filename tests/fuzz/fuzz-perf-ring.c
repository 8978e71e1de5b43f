/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The perf ring-buffer record parser. The input is
 *   u16 flags: bits 0..9 pick the PERF_RING_SAMPLE_TYPES bits, in the order
 *       of perf_sample_parse(); bit 13: head - tail unbounded; bit 14: a
 *       data area of the input's size even when that is no power of two;
 *       bit 15: add a sample type the parser does not understand
 *   u64 tail, u32 head - tail (modulo the data size + 1 unless bit 13)
 *   the data area: the rest, cut to a power of two
 * all little-endian. Each sample's raw record is read as an intel_iommu
 * qi_submit record through its real format file, as the sampler does.
 */
#include "fuzz.h"
#include "perf-record.h"
#include "util.h"

/* tests/fixtures/qemu-vtd/sys/kernel/tracing/events/intel_iommu/qi_submit/format */
static const char qi_submit_format[] =
        "name: qi_submit\n"
        "ID: 1146\n"
        "format:\n"
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
        "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
        "\n"
        "\tfield:u64 qw0;\toffset:8;\tsize:8;\tsigned:0;\n"
        "\tfield:u64 qw1;\toffset:16;\tsize:8;\tsigned:0;\n"
        "\tfield:u64 qw2;\toffset:24;\tsize:8;\tsigned:0;\n"
        "\tfield:u64 qw3;\toffset:32;\tsize:8;\tsigned:0;\n"
        "\tfield:__data_loc char[] iommu;\toffset:40;\tsize:4;\tsigned:1;\n"
        "\n"
        "print fmt: \"%s %s: 0x%llx 0x%llx 0x%llx 0x%llx\", REC->qw0\n";

static const uint64_t sample_bits[] = {
        PERF_SAMPLE_IDENTIFIER, PERF_SAMPLE_IP,     PERF_SAMPLE_TID,       PERF_SAMPLE_TIME,
        PERF_SAMPLE_ADDR,       PERF_SAMPLE_ID,     PERF_SAMPLE_STREAM_ID, PERF_SAMPLE_CPU,
        PERF_SAMPLE_PERIOD,     PERF_SAMPLE_RAW,
};

typedef struct Walk {
        const TraceFormat *format;
        uint64_t samples;
        uint64_t checksum;
} Walk;

static int on_sample(const PerfSample *s, void *userdata) {
        Walk *w = userdata;
        char iommu[16];
        uint64_t v;

        w->samples++;
        /* Touch every raw byte: a raw record that is not all inside the
         * ring (or the scratch copy) is a read out of bounds. */
        for (uint32_t i = 0; i < s->raw_size; i++)
                w->checksum += s->raw[i];
        for (size_t i = 0; i < w->format->n_fields; i++) {
                const TraceField *f = &w->format->fields[i];
                int r = f->data_loc ? trace_field_string(f, s->raw, s->raw_size, iommu, sizeof(iommu))
                                    : trace_field_u64(f, s->raw, s->raw_size, &v);

                FUZZ_CHECK(r >= 0 || r == -EBADMSG || r == -ENOBUFS);
        }
        /* The sampler stops early when its own buffer is full. */
        return s->period == 1 ? -ENOSPC : 0;
}

static uint64_t get_le(const uint8_t *p, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static TraceFormat format;
        static uint8_t *scratch;
        _cleanup_free_ uint8_t *ring = NULL;
        PerfRingStats stats = {};
        uint64_t sample_type = 0, tail, head, pos;
        size_t data_size;
        unsigned flags;
        Walk w;

        if (!scratch) {
                if (trace_format_parse(qi_submit_format, &format) < 0)
                        abort();
                if (!(scratch = malloc(PERF_RECORD_MAX_SIZE)))
                        abort();
        }
        if (size < 14)
                return 0;
        flags = (unsigned) get_le(data, 2);
        tail = get_le(data + 2, 8);
        head = get_le(data + 10, 4);
        data += 14, size -= 14;
        if (size == 0)
                return 0;

        for (unsigned i = 0; i < ELEMENTSOF(sample_bits); i++)
                if (flags & (1u << i))
                        sample_type |= sample_bits[i];
        if (flags & (1u << 15))
                sample_type |= PERF_SAMPLE_CALLCHAIN;
        data_size = size;
        if (!(flags & (1u << 14)))
                while (data_size & (data_size - 1))
                        data_size &= data_size - 1;
        if (!(flags & (1u << 13)))
                head %= data_size + 1;
        head += tail;
        ring = fuzz_dup(data, data_size);

        w = (Walk) { .format = &format };
        pos = perf_ring_parse(ring, data_size, tail, head, sample_type, scratch, on_sample, &w,
                              &stats);
        FUZZ_CHECK(stats.samples == w.samples);
        FUZZ_CHECK(pos - tail <= head - tail);
        if ((data_size & (data_size - 1)) == 0 && head - tail <= data_size)
                /* Every byte up to the new tail was consumed or dropped. */
                FUZZ_CHECK(stats.bytes == pos - tail);
        else if (data_size == 0 || (data_size & (data_size - 1)))
                /* No ring a kernel maps: skipped whole. */
                FUZZ_CHECK(pos == head && stats.malformed == 1 && stats.overruns == 0);
        else
                /* head more than the ring past tail: the kernel overwrote
                 * records; skipped whole and counted as an overrun. */
                FUZZ_CHECK(pos == head && stats.overruns == 1 && stats.malformed == 0);
        return 0;
}
