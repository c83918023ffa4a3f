/* A shared object that is not a skillhost plugin: it has no skh_plugin_entry. */
#include <skillhost/plugin.h>

SKH_PLUGIN_EXPORT int not_a_plugin(void);
SKH_PLUGIN_EXPORT int not_a_plugin(void)
{
    return 42;
}
