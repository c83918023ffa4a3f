/* A plugin built for an ABI this host does not speak: refused, naming both versions. */
#include <skillhost/plugin.h>

static int run(void *state, skh_call *call)
{
    return skh_output(call, "{}");
}

SKH_PLUGIN_EXPORT const skh_plugin *skh_plugin_entry(const skh_host_api *api);
SKH_PLUGIN_EXPORT const skh_plugin *skh_plugin_entry(const skh_host_api *api)
{
    static const skh_plugin d = {.abi_version = 7,
                                 .struct_size = sizeof(skh_plugin),
                                 .kind = SKH_KIND_SKILL,
                                 .name = "bad_abi",
                                 .version = "1.0.0",
                                 .execute = run};
    return &d;
}
