/* Time-ordered identifiers (UUIDv7, RFC 9562) for executions and requests. */
#ifndef SKH_CORE_UUID_H
#define SKH_CORE_UUID_H

#define UUID_TEXT_LEN 37 /* 36 characters and the NUL */

/* Fills buf with a new UUIDv7; ids made later in one process sort later. */
void uuid_v7(char buf[UUID_TEXT_LEN]);

#endif
