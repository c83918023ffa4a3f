/*
 * A descriptor shorter than ABI v1 (as from a broken or truncated build): the
 * host must refuse it from abi_version and struct_size alone, without reading
 * past the 16 bytes that exist.
 */
#include <skillhost/plugin.h>

struct tiny_descriptor {
    uint32_t abi_version;
    uint32_t struct_size;
    uint32_t kind;
    uint32_t pad;
};

SKH_PLUGIN_EXPORT const skh_plugin *skh_plugin_entry(const skh_host_api *api);
SKH_PLUGIN_EXPORT const skh_plugin *skh_plugin_entry(const skh_host_api *api)
{
    static const struct tiny_descriptor d = {
        .abi_version = SKH_ABI_VERSION, .struct_size = sizeof d, .kind = SKH_KIND_SKILL};
    return (const skh_plugin *)(const void *)&d;
}
