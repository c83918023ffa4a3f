/* Evolvers (DESIGN §1): proposing a new variant of a weak one. */
#ifndef SKH_CORE_EVOLVE_H
#define SKH_CORE_EVOLVE_H

#include <jansson.h>
#include <skillhost/host.h>

/* How many of the serving variant's last executions an evolver is shown. */
#define EVOLVE_RECENT 50

/*
 * What skh_evolve and skh_evolve_report run, with the A/B knobs: weight
 * (percent; 0: skh_ab_start's default) and target (per arm; 0: the
 * default), which only skh_ab_start checks, after the variant is
 * registered: callers check them first.  On success *report (when report
 * is not NULL) is {"skill", "variant", "parent", "test_id", "content",
 * "patterns", "description", "evolver"}; caller json_decref()s.
 */
int evolve_run(skh_host *host, const char *skill, const char *evolver_impl, double weight,
               long target, json_t **report, skh_error *err);

/*
 * Resolve an evolver plugin name (skh_plugin_resolve) and load it to check
 * it is one: SKH_EPLUGIN for a plugin of another kind.  *path (absolute)
 * is malloc'd.
 */
int evolve_check_evolver(skh_host *host, const char *name, char **path, skh_error *err);

/*
 * After a request: when evolve.auto is on, no test runs for the skill, the
 * skill has an evolver, its serving variant is staged or production, and
 * that variant's last evolve.window executions (all of them present) have a
 * mean fidelity under react.fidelity_threshold, evolve it (a new variant in
 * an A/B test).  At most one attempt per window: after an attempt -- kept in
 * the decisions table, kind "evolve", whatever came of it -- the next waits
 * until the window holds only executions made after it.  Cheap when off: the
 * config is checked before any SQL.
 */
int evolve_maybe_auto(skh_host *host, const char *skill, skh_error *err);

#endif
