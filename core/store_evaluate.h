/* What skh_evaluate (evaluate.c) reads from the store. */
#ifndef SKH_CORE_STORE_EVALUATE_H
#define SKH_CORE_STORE_EVALUATE_H

#include "store.h"

/*
 * The skill's positive class (skills.positive_class): *value is malloc'd,
 * or NULL when none is set.  SKH_ENOTFOUND for an unknown skill.
 */
int store_skill_positive_class(store *st, const char *skill, char **value, skh_error *err);
/* Set it; NULL or "" clears it (the default rule applies again). */
int store_skill_positive_class_set(store *st, const char *skill, const char *value, skh_error *err);

#endif
