/*
 * The database schema as forward migrations (DESIGN §6).  Migration k takes
 * a database from PRAGMA user_version k-1 to k; the store runs the missing
 * ones inside one BEGIN IMMEDIATE transaction and then sets user_version.
 * A released migration is never edited: a change is a new migration.
 */
#ifndef SKH_CORE_SCHEMA_H
#define SKH_CORE_SCHEMA_H

/* How many migrations there are (== STORE_SCHEMA_VERSION). */
int schema_version(void);

/* The SQL script of migration k (1-based), or NULL when there is none. */
const char *schema_migration(int k);

#endif
