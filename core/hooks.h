/*
 * After every state transition (promotion, rollback, demotion, A/B verdict):
 * hooks.lua decides what runs (DESIGN §7); the audit log (audit.jsonl), the
 * human-readable changelog and the registry export beside the database are
 * refreshed.  A failing hook is reported on stderr and recorded in
 * decisions, never swallowed; it never undoes the transition.
 */
#ifndef SKH_CORE_HOOKS_H
#define SKH_CORE_HOOKS_H

#include <jansson.h>

#include "host_internal.h"

/*
 * event: {"kind": "promotion"|"rollback"|"demotion"|"ab_promotion"|"ab_archive"|...,
 *         "skill", "variant", "from_state", "to_state", "reason", "actor", "metric"?,
 *         "timestamp"}.
 */
int hooks_after_transition(skh_host *host, json_t *event, skh_error *err);

#endif
