/* Times as the store writes them (ISO-8601 UTC text with milliseconds, sorting as text). */
#ifndef SKH_CORE_ISOTIME_H
#define SKH_CORE_ISOTIME_H

/*
 * "YYYY-MM-DD[(T| )HH:MM[:SS[.fff...]]][Z|+HH:MM|-HH:MM]" (UTC when no zone
 * is given) into "YYYY-MM-DDTHH:MM:SS.mmmZ"; -1 when it is not such a time
 * (or names a day its month does not have).  Defined in status.c.
 */
int normalise_time(const char *in, char out[32]);

#endif
