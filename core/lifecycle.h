/*
 * The variant lifecycle (DESIGN §4, §7): prototype -> staged -> production,
 * back down when live metrics break rollback.lua.
 */
#ifndef SKH_CORE_LIFECYCLE_H
#define SKH_CORE_LIFECYCLE_H

#include "host_internal.h"

/*
 * After a recorded request of a serving variant (staged or production):
 * ask rollback.lua over the variant's last-N window (an O(N) read) and,
 * when it triggers, restore the previous production variant (or demote,
 * or freeze) in one transaction with its rollback_events row and learning
 * event; then run the transition hooks.  Every check that fired, or was
 * suppressed, goes into decisions.  Cheap when the variant is not serving.
 */
int lifecycle_after_request(skh_host *host, const char *skill, const char *variant_id,
                            skh_error *err);

#endif
