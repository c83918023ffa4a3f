/* A skill without its execute callback: refused at load, never called. */
#include <skillhost/plugin.h>

SKH_PLUGIN(skill, "no_execute", "1.0.0", .description = "a skill that cannot run")
