/* A kind this host does not know: refused at load. */
#include <skillhost/plugin.h>

static int run(void *state, skh_call *call)
{
    return skh_output(call, "{}");
}

SKH_PLUGIN_EXPORT const skh_plugin *skh_plugin_entry(const skh_host_api *api);
SKH_PLUGIN_EXPORT const skh_plugin *skh_plugin_entry(const skh_host_api *api)
{
    static const skh_plugin d = {.abi_version = SKH_ABI_VERSION,
                                 .struct_size = sizeof(skh_plugin),
                                 .kind = 99,
                                 .name = "bad_kind",
                                 .version = "1.0.0",
                                 .execute = run,
                                 .score = run};
    return &d;
}
