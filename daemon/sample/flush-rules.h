/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Which of the kernel's IOTLB gather rules (gather-model.h) the flush
 * sampler replays unmaps through on this machine: the units' vendor, the
 * page sizes they share, and the running kernel's version (the generic
 * page table from 6.19, the IOVA-based DMA API path from 6.17). Pure: it
 * reads the scanned topology, nothing else.
 */

#include <stdbool.h>

#include "gather-model.h"
#include "topology.h"

/* How the units' driver syncs the IOTLB on unmap on this kernel, and the
 * page sizes every unit shares (0: none known), for the gather model and
 * the unmap filter. A machine has one vendor's IOMMUs; VT-d's rules unless
 * all are AMD or all SMMUv3; the generic page table's from 6.19 (an unknown
 * version keeps the driver's own rules). */
GatherRules flush_rules_for_machine(const Topology *t);

/* Whether this kernel unmaps some requests through the IOVA-based DMA API
 * (6.17+; an unknown version: no). */
bool flush_rules_iova_api(const Topology *t);
