/*
 * skillhost demo: the story so far on a throw-away database — one skill,
 * a C variant and a Lua variant of it, both run and recorded.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const messages[][2] = {
    {"Click here to claim your free prize money", "spam"},
    {"Are we still on for lunch tomorrow?", "ham"},
    {"Cheap offer: buy now, winner takes all", "spam"},
    {"The build is green again, thanks for the fix", "ham"},
    {"Free money! Click to claim the offer", "spam"},
    {"Minutes from the planning meeting are attached", "ham"},
};

static int remove_workspace(const char *dir)
{
    char path[PATH_MAX];
    static const char *const files[] = {"skillhost.db", "skillhost.db-wal", "skillhost.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    return rmdir(dir);
}

static int run_variant(cli *c, const char *variant, json_t *report)
{
    skh_error err;
    int correct = 0;
    for (size_t i = 0; i < sizeof messages / sizeof *messages; i++) {
        json_t *in = json_pack("{s:s, s:s}", "text", messages[i][0], "label", messages[i][1]);
        char *text = json_dumps(in, JSON_COMPACT);
        json_decref(in);
        skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
        eo.variant = variant;
        eo.session_id = "demo";
        skh_result *r = NULL;
        int rc = skh_execute(c->host, "spam_filter", text, &eo, &r, &err);
        free(text);
        if (rc != SKH_OK) {
            skh_result_free(r);
            return cli_error(c, &err);
        }
        json_t *out = json_loads(skh_result_output(r), 0, NULL);
        const char *decision = json_string_value(json_object_get(out, "decision"));
        int ok = decision && strcmp(decision, messages[i][1]) == 0;
        correct += ok;
        if (!c->json)
            printf("  %-12s %-46s -> %-4s (confidence %.2f, fidelity %.2f)%s\n", variant,
                   messages[i][0], decision ? decision : "?",
                   json_number_value(json_object_get(out, "confidence")), skh_result_fidelity(r, 0),
                   ok ? "" : "  WRONG");
        json_decref(out);
        skh_result_free(r);
    }
    json_object_set_new(report, variant,
                        json_pack("{s:i, s:i}", "runs", (int)(sizeof messages / sizeof *messages),
                                  "correct", correct));
    return 0;
}

int cmd_demo(cli *c, int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(cli_verb_find("demo"));
    if (argc > 1)
        return cli_usage(c, "demo", "unexpected argument '%s'", argv[1]);

    char dir[] = "/tmp/skillhost-demo-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("skillhost: demo: mkdtemp");
        return 4;
    }
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/skillhost.db", dir);
    c->db = db;
    int rc = cli_open(c, 1);
    json_t *report = json_object();
    char *c_variant = NULL, *lua_variant = NULL;
    skh_error err;

    if (rc == 0 && !c->json)
        printf("skillhost demo on a throw-away database: %s\n\n"
               "1. Register one skill, spam_filter, twice: a C variant and a Lua variant\n"
               "   of the same keyword classifier.\n",
               db);
    skh_variant_spec spec = {.struct_size = sizeof spec,
                             .skill = "spam_filter",
                             .impl = "keyword_classifier.so",
                             .state = "production"};
    if (rc == 0 && skh_variant_add(c->host, &spec, &c_variant, &err))
        rc = cli_error(c, &err);
    spec.impl = "keyword_classifier.lua";
    spec.state = "prototype";
    if (rc == 0 && skh_variant_add(c->host, &spec, &lua_variant, &err))
        rc = cli_error(c, &err);
    if (rc == 0 && !c->json)
        printf("   %s  keyword_classifier.so   (production)\n"
               "   %s  keyword_classifier.lua  (prototype)\n\n"
               "2. Run six labelled messages through each variant.  Every run is scored\n"
               "   (pattern fidelity, outcome) and recorded in three metric tables.\n",
               c_variant, lua_variant);
    if (rc == 0)
        rc = run_variant(c, c_variant, report);
    if (rc == 0)
        rc = run_variant(c, lua_variant, report);

    char *show = NULL;
    if (rc == 0 && skh_skill_show(c->host, "spam_filter", &show, &err))
        rc = cli_error(c, &err);
    if (rc == 0) {
        json_t *sk = json_loads(show, 0, NULL);
        if (c->json) {
            json_object_set_new(report, "skill", sk);
            cli_print_json(json_pack("{s:s, s:o}", "db", db, "demo", json_incref(report)));
        } else {
            size_t i;
            json_t *v;
            printf("\n3. What the database holds now (rows per metric table):\n");
            json_array_foreach(json_object_get(sk, "variants"), i, v)
            {
                json_t *ex = json_object_get(v, "executions");
                printf("   %-14s fidelity_metrics %lld, outcome_metrics %lld, "
                       "performance_metrics %lld\n",
                       json_string_value(json_object_get(v, "id")),
                       (long long)json_integer_value(json_object_get(ex, "fidelity")),
                       (long long)json_integer_value(json_object_get(ex, "outcome")),
                       (long long)json_integer_value(json_object_get(ex, "performance")));
            }
            printf("\nBoth variants decide identically.  Try it yourself:\n"
                   "  skillhost init\n"
                   "  skillhost skill add spam_filter --impl keyword_classifier.so\n"
                   "  skillhost run spam_filter --input '{\"text\": \"free money\"}'\n");
            json_decref(sk);
        }
    }
    skh_free(show);
    skh_free(c_variant);
    skh_free(lua_variant);
    json_decref(report);
    skh_host_close(c->host);
    c->host = NULL;
    remove_workspace(dir);
    return rc;
}
