/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group-attribution.h"
#include "util.h"

const char *rate_source_to_string(RateSource s) {
        static const char *const names[_RATE_SOURCE_MAX] = {
                [RATE_SOURCE_UNKNOWN] = "not measured",
                [RATE_SOURCE_IDLE] = "no I/O",
                [RATE_SOURCE_DEVICE] = "exact by device",
                [RATE_SOURCE_DOMAIN] = "exact by domain",
                [RATE_SOURCE_ELIMINATION] = "exact by elimination",
                [RATE_SOURCE_APPORTIONED] = "apportioned",
        };

        return (unsigned) s < _RATE_SOURCE_MAX ? names[s] : "unknown";
}

bool rate_source_is_exact(RateSource s) {
        return s == RATE_SOURCE_DEVICE || s == RATE_SOURCE_DOMAIN || s == RATE_SOURCE_ELIMINATION;
}

uint64_t attribution_split(uint64_t total, const uint64_t *weights, size_t n, uint64_t *ret_parts) {
        unsigned __int128 sum = 0;
        uint64_t given = 0;

        for (size_t i = 0; i < n; i++) {
                sum += weights[i];
                ret_parts[i] = 0;
        }
        if (sum == 0 || total == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                ret_parts[i] = (uint64_t) ((unsigned __int128) total * weights[i] / sum);
                given += ret_parts[i];
        }
        /* The rounding: one each to the largest remainders of total * w /
         * sum (ties to the first). The remainders sum to less than the
         * number of weighted parts, so none gets two, the parts sum to
         * total, and nobody with a zero weight gets anything. */
        while (given < total) {
                size_t best = n;
                unsigned __int128 best_rem = 0;

                for (size_t i = 0; i < n; i++) {
                        unsigned __int128 rem;

                        if (!weights[i] || (uint64_t) ((unsigned __int128) total * weights[i] / sum) != ret_parts[i])
                                continue; /* no weight, or already given its one */
                        rem = (unsigned __int128) total * weights[i] % sum;
                        if (best == n || rem > best_rem) {
                                best = i;
                                best_rem = rem;
                        }
                }
                if (best == n)
                        break; /* cannot happen: see above */
                ret_parts[best]++;
                given++;
        }
        return given;
}

void attribution_done(Attribution *a) {
        free(a->groups);
        *a = (Attribution) {};
}

static uint64_t sub0(uint64_t a, uint64_t b) {
        return a > b ? a - b : 0;
}

/* The group's exact unmaps, and whether they are all of its unmaps. */
static uint64_t exact_unmaps(const AttributionGroupIn *g, bool iova_api, RateSource *ret_source, bool *ret_complete) {
        /* Its page-selective invalidations count its unmaps one for one. */
        bool by_domain = g->domain_known && g->domain_one_per_unmap;

        *ret_complete = false;
        *ret_source = RATE_SOURCE_UNKNOWN;
        if (g->device_counted && !iova_api) {
                /* Every unmap of it fires a dma:* event. Its invalidations
                 * can only say more where they are not one per unmap (an
                 * unmap with page-size changes pays k + 1 before 6.19). */
                *ret_complete = true;
                *ret_source = RATE_SOURCE_DEVICE;
                return g->device_unmaps;
        }
        if (by_domain && g->strict) {
                /* Every strict unmap flushes its pages, whatever API. */
                *ret_complete = true;
                if (g->device_counted && g->device_unmaps >= g->page_selective) {
                        *ret_source = RATE_SOURCE_DEVICE;
                        return g->device_unmaps;
                }
                *ret_source = RATE_SOURCE_DOMAIN;
                return g->page_selective;
        }
        if (g->device_counted) {
                *ret_source = RATE_SOURCE_DEVICE;
                if (by_domain) {
                        /* Lazy: the IOVA-API unmaps are the ones that still
                         * flush their pages at once. */
                        *ret_complete = true;
                        if (g->page_selective)
                                *ret_source = RATE_SOURCE_DOMAIN;
                        return g->device_unmaps + g->page_selective;
                }
                return g->device_unmaps;
        }
        return 0;
}

int attribution_compute(const AttributionInput *in, Attribution *ret) {
        Attribution a = {};
        _cleanup_free_ uint64_t *weights = NULL, *parts = NULL;
        _cleanup_free_ bool *complete = NULL;
        uint64_t exact_sum = 0, io_sum = 0;
        size_t n_candidates = 0, only = 0;

        if (!in || (in->n_groups && !in->groups))
                return -EINVAL;
        a.groups = calloc(in->n_groups + 1, sizeof(*a.groups));
        weights = calloc(in->n_groups + 1, sizeof(*weights));
        parts = calloc(in->n_groups + 1, sizeof(*parts));
        complete = calloc(in->n_groups + 1, sizeof(*complete));
        if (!a.groups || !weights || !parts || !complete) {
                attribution_done(&a);
                return -ENOMEM;
        }
        if (!in->counters_ok) {
                snprintf(a.why, sizeof(a.why), "the map/unmap counters are not running");
                *ret = a;
                return 0;
        }

        /* Exact sources first. */
        for (size_t i = 0; i < in->n_groups; i++) {
                const AttributionGroupIn *g = &in->groups[i];
                AttributionGroup *o = &a.groups[i];

                o->unmaps = exact_unmaps(g, in->iova_api, &o->source, &complete[i]);
                exact_sum += o->unmaps;
                if (!complete[i] && g->active && g->io_ops > 0) {
                        /* In thousandths of an unmap, so a measured ratio
                         * below one still weighs. */
                        double per_op = g->unmaps_per_op > 0 ? g->unmaps_per_op : 1.0;

                        weights[i] = (uint64_t) ((double) g->io_ops * per_op * 1000.0 + 0.5);
                        if (!weights[i])
                                weights[i] = 1;
                        a.weighted = a.weighted || g->unmaps_per_op > 0;
                        io_sum += weights[i];
                        n_candidates++;
                        only = i;
                }
        }

        /* The rest, by elimination or apportioned by I/O operations. */
        a.rest_unmaps = sub0(in->unmaps, exact_sum + in->exact_carry);
        a.carry_out = sub0(exact_sum + in->exact_carry, in->unmaps);
        if (a.carry_out > exact_sum)
                a.carry_out = exact_sum;
        if (exact_sum > in->unmaps)
                snprintf(a.why, sizeof(a.why),
                         "none: the exact per-group counts exceed the machine's by %llu (read a moment apart)",
                         (unsigned long long) (exact_sum - in->unmaps));
        else if (a.rest_unmaps && n_candidates == 0)
                /* (A candidate is a group with I/O and no exact count.) */
                snprintf(a.why, sizeof(a.why), "no group whose unmaps are not counted exactly did I/O this tick");
        if (a.rest_unmaps && n_candidates == 1) {
                a.groups[only].unmaps += a.rest_unmaps;
                a.groups[only].share = 1.0;
                a.groups[only].source = RATE_SOURCE_ELIMINATION;
        } else if (a.rest_unmaps && n_candidates > 1) {
                attribution_split(a.rest_unmaps, weights, in->n_groups, parts);
                for (size_t i = 0; i < in->n_groups; i++) {
                        if (!weights[i])
                                continue;
                        a.groups[i].unmaps += parts[i];
                        a.groups[i].apportioned_unmaps = parts[i];
                        a.groups[i].share = (double) weights[i] / (double) io_sum;
                        a.groups[i].source = RATE_SOURCE_APPORTIONED;
                        a.io_ops_shared += in->groups[i].io_ops;
                }
        } else if (a.rest_unmaps == 0 && exact_sum + in->exact_carry == in->unmaps)
                for (size_t i = 0; i < in->n_groups; i++)
                        if (weights[i] && a.groups[i].source == RATE_SOURCE_UNKNOWN)
                                /* Nothing was left: its part is exactly zero.
                                 * (When the exact counts exceed the machine's,
                                 * read a moment apart, nothing is known of it.) */
                                a.groups[i].source = RATE_SOURCE_ELIMINATION;
        if (a.rest_unmaps && n_candidates == 0)
                a.unattributed_unmaps = a.rest_unmaps;

        /* A group with no I/O and no exact count had none of the rest;
         * but when some of it could not be placed at all, one of them may
         * have: its rate is not known then. */
        for (size_t i = 0; i < in->n_groups; i++)
                if (a.groups[i].source == RATE_SOURCE_UNKNOWN && !weights[i] && !a.unattributed_unmaps)
                        a.groups[i].source = RATE_SOURCE_IDLE;

        /* Maps, by the groups' unmaps (the unattributed ones too): all of
         * them the one busy group's when no other group had I/O or
         * unmaps, else apportioned. */
        {
                uint64_t given;
                size_t n_busy = 0;

                for (size_t i = 0; i < in->n_groups; i++) {
                        weights[i] = a.groups[i].unmaps;
                        n_busy += weights[i] > 0 || in->groups[i].active;
                }
                weights[in->n_groups] = a.unattributed_unmaps;
                given = attribution_split(in->maps, weights, in->n_groups + 1, parts);
                for (size_t i = 0; i < in->n_groups; i++) {
                        a.groups[i].maps = parts[i];
                        if (n_busy > 1 || a.unattributed_unmaps)
                                a.groups[i].apportioned_maps = parts[i];
                }
                a.unattributed_maps = in->maps - given + parts[in->n_groups];
        }

        /* What the flush queue would batch. */
        for (size_t i = 0; i < in->n_groups; i++) {
                const AttributionGroupIn *g = &in->groups[i];
                AttributionGroup *o = &a.groups[i];

                if (!in->iova_api) {
                        o->batchable_known = true;
                        o->batchable_unmaps = o->unmaps;
                } else if (g->device_counted) {
                        /* Whoever else's the rest is, this group's
                         * map/unmap API unmaps are its dma:* count. */
                        o->batchable_known = true;
                        o->batchable_unmaps = g->device_unmaps < o->unmaps ? g->device_unmaps : o->unmaps;
                }
        }
        *ret = a;
        return 0;
}

#define UNMAPS_PER_OP_MIN_OPS 20

double attribution_unmaps_per_op(double prev, RateSource source, uint64_t unmaps, uint64_t io_ops) {
        double now;

        if (!rate_source_is_exact(source) || io_ops < UNMAPS_PER_OP_MIN_OPS || !unmaps)
                return prev;
        now = (double) unmaps / (double) io_ops;
        return prev > 0 ? prev * 0.75 + now * 0.25 : now;
}

/* ---- learned domains --------------------------------------------------- */

int domain_learner_see(DomainLearner *l, const char *unit, uint16_t did, unsigned group, uint64_t tick) {
        DomainCandidate *c = NULL;

        for (size_t i = 0; i < l->n; i++)
                if (l->c[i].did == did && streq(l->c[i].unit, unit)) {
                        c = &l->c[i];
                        break;
                }
        if (!c) {
                if (greedy_realloc((void **) &l->c, &l->allocated, l->n + 1, sizeof(*l->c)) < 0)
                        return -ENOMEM;
                c = &l->c[l->n++];
                *c = (DomainCandidate) { .did = did, .group = group };
                snprintf(c->unit, sizeof(c->unit), "%s", unit);
        }
        if (c->group != group || (c->seen && tick > c->last_tick + 1) || tick < c->last_tick) {
                c->group = group;
                c->seen = 0;
        }
        if (c->seen && tick == c->last_tick)
                return c->seen >= DOMAIN_LEARN_CONFIRM;
        c->seen++;
        c->last_tick = tick;
        return c->seen >= DOMAIN_LEARN_CONFIRM;
}

void domain_learner_done(DomainLearner *l) {
        free(l->c);
        *l = (DomainLearner) {};
}
