/* The store side of benchmark evaluation (evaluate.c) and the skill's positive class. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_evaluate.h"
#include "store_internal.h"

static const char sql_positive_class[] = "SELECT positive_class FROM skills WHERE skill_id = ?1";

int store_skill_positive_class(store *st, const char *skill, char **value, skh_error *err)
{
    /* An empty text is no class: a decision is never "" (that means none). */
    return store_query_text(st, sql_positive_class, skill, NULL, "no such skill", value, err,
                            "reading the positive class of");
}

static const char sql_positive_class_set[] =
    "UPDATE skills SET positive_class = ?2 WHERE skill_id = ?1";

int store_skill_positive_class_set(store *st, const char *skill, const char *value, skh_error *err)
{
    sqlite3_stmt *s = store_stmt(st, sql_positive_class_set, err);
    if (!s)
        return err ? err->code : SKH_ESTORE;
    int rc = store_tx_begin(st, 1, err);
    if (rc)
        return rc;
    if (store_bind_text(s, 1, skill) | store_bind_text(s, 2, value && *value ? value : NULL)) {
        store_stmt_done(s);
        return store_tx_fail(
            st, error_set(err, SKH_ESTORE, store_path(st), "%s: binding parameters failed", skill));
    }
    if ((rc = store_stmt_run(st, s, err, "recording the positive class of", skill)) != SKH_OK)
        return store_tx_fail(st, rc);
    if (sqlite3_changes(st->db) != 1)
        return store_tx_fail(st, error_set(err, SKH_ENOTFOUND, skill, "no such skill"));
    return store_tx_commit(st, err);
}
