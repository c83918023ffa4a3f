/*
 * embed.c: run a skill from your own program through libskillhost.
 *
 *   cc embed.c $(pkg-config --cflags --libs skillhost) -o embed
 *   ./embed /tmp/embed.db keyword_classifier.so "free money, click now"
 */
#include <stdio.h>
#include <stdlib.h>

#include <skillhost/host.h>

static int fail(const char *doing, const skh_error *err)
{
    fprintf(stderr, "embed: %s: %s: %s\n", doing, err->what, err->message);
    return skh_exit_status(err->code);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: embed DB PLUGIN TEXT\n");
        return 2;
    }
    skh_error err;
    skh_host *host = NULL;
    skh_host_options opts = {.struct_size = sizeof opts, .db_path = argv[1], .create = 1};
    if (skh_host_open(&opts, &host, &err) != SKH_OK)
        return fail("open", &err);

    /* Register the plugin as the serving variant of skill "spam". */
    skh_variant_spec spec = {
        .struct_size = sizeof spec, .skill = "spam", .impl = argv[2], .state = "production"};
    char *variant = NULL;
    if (skh_variant_add(host, &spec, &variant, &err) != SKH_OK) {
        skh_host_close(host);
        return fail("register", &err);
    }
    printf("registered %s\n", variant);
    skh_free(variant);

    /* Build the input with any JSON library; here by hand, the text kept simple. */
    char input[512];
    snprintf(input, sizeof input, "{\"text\": \"%s\", \"label\": \"spam\"}", argv[3]);

    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.session_id = "embed-example";
    skh_result *r = NULL;
    int rc = skh_execute(host, "spam", input, &eo, &r, &err);
    if (r) {
        printf("variant %s, %u attempt(s), fidelity %.2f, %s\n", skh_result_variant(r),
               skh_result_attempts(r), skh_result_fidelity(r, skh_result_attempts(r) - 1),
               skh_result_recorded(r) ? "recorded" : "NOT recorded");
        if (skh_result_output(r))
            printf("output %s\n", skh_result_output(r));
        skh_result_free(r);
    }
    if (rc != SKH_OK) {
        skh_host_close(host);
        return fail("execute", &err);
    }
    skh_host_close(host);
    return 0;
}
