/* The registry export's read of the store (registry.c). */
#ifndef SKH_CORE_STORE_REGISTRY_H
#define SKH_CORE_STORE_REGISTRY_H

#include <jansson.h>

#include "store.h"

/*
 * Every skill, read in one transaction so the export is one consistent
 * snapshot: {NAME: {"description", "promotion_state", "serving" (variant id
 * or null), "last_promoted_at", "evolver", "variants": {ID: {"state",
 * "impl", "sha256", "parent", "promoted" (bool), "test_status",
 * "created_at"}}, "live_test" ({"test_id", "mode", "status", "control",
 * "treatment", "weight", "start_time"} or null)}}, skills and variants in
 * name and version order.  Caller json_decref()s.
 */
int store_registry(store *st, json_t **out, skh_error *err);

#endif
