/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The topology for people (aligned tables) and for programs (JSON). The
 * JSON object is the one iommutuned --dump-topology --json prints and the
 * control socket serves; its keys are part of the interface.
 */

#include <json-c/json.h>
#include <stdio.h>

#include "topology.h"

/* Builds the JSON description; NULL on allocation failure. */
json_object *topology_to_json(const Topology *t);
/* Prints kernel, units, groups, devices and problems as tables. */
int topology_print(const Topology *t, FILE *f);
/* Formats a page-size bitmap as "4K 2M 1G" (or "unknown"). */
void pgsize_bitmap_format(uint64_t bitmap, char *buf, size_t size);
/* The words shown when the machine has no active IOMMU, or NULL if it has. */
const char *topology_no_iommu_message(const Topology *t);
/* What a device outside every IOMMU group is, in the words every output
 * uses: "not translated by an IOMMU". */
#define TOPOLOGY_UNTRANSLATED "not translated by an IOMMU"
