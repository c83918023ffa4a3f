/*
 * skillhost evaluate (DESIGN §7): run a variant over benchmark cases, each
 * recorded and marked as evaluation, and measure it.
 *
 * A case file is JSONL: one {"input": {...}, "expected": "LABEL",
 * "critical": true|false} per line (critical is optional, default false);
 * blank lines are ignored.  A line that is not such an object is reported
 * as FILE:LINE (with the JSON column when there is one) and counted as
 * failed; the batch goes on.  Each good case runs through skh_execute
 * against one variant, resolved once up front so a promotion during the
 * batch cannot split it across two variants, with "label": expected added to
 * its input so the outcome scorer records correctness.
 *
 * The figures, over the cases that ran (a request that failed ran, and was
 * recorded; it decided nothing):
 *
 *   cases      lines with content (malformed ones included)
 *   run        cases executed
 *   failed     malformed lines + requests that failed
 *   fidelity   sum of each run case's final-attempt fidelity / run
 *   outcome    run cases whose decision equals expected / run; a failed
 *              request is never correct (as plugins/outcome.c scores it)
 *   positive_class
 *              skills.positive_class when set; else the first expected value,
 *              in file order, that is not "ham", "negative" or "no" (compared
 *              without case); else the first such decision, in run order;
 *              else none (null)
 *   negatives  run cases whose expected is not the positive class
 *   false_positives
 *              negatives decided as the positive class
 *   false_positive_rate
 *              false_positives / negatives; 0 when there are no negatives
 *   positives, false_negatives
 *              run cases whose expected is the positive class, and those of
 *              them not decided as it (a failed request included)
 *   critical_false_negatives
 *              false negatives of cases marked critical
 *
 * Every figure comes from integer counts, and the two means divide a sum by
 * a count once, so a case file with a known answer gives exactly the
 * fraction it should (9 cases of fidelity 1.0 and one of 0.0: 0.9).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "error.h"
#include "host_internal.h"
#include "store_evaluate.h"
#include "text.h"

/* One well-formed case, as far as it got. */
typedef struct eval_case {
    long line;
    char *expected;
    char *input;    /* the labelled input, compact JSON; freed once the case ran */
    char *decision; /* NULL: none (the request failed, or its output had no decision) */
    int critical;
    int ran;
    double fidelity; /* the final attempt's */
    json_t *error;   /* the "failed" entry of the report, when the request failed */
} eval_case;

typedef struct evaluation {
    const char *path;
    eval_case *cases;
    size_t ncases, capcases;
    long lines; /* non-blank lines */
    long failed;
    json_t *errors;
} evaluation;

static void evaluation_free(evaluation *ev)
{
    for (size_t i = 0; i < ev->ncases; i++) {
        free(ev->cases[i].input);
        json_decref(ev->cases[i].error);
        free(ev->cases[i].expected);
        free(ev->cases[i].decision);
    }
    free(ev->cases);
    json_decref(ev->errors);
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

/* The labels that name the negative class when a skill sets none. */
static int is_negative_label(const char *s)
{
    return strcasecmp(s, "ham") == 0 || strcasecmp(s, "negative") == 0 || strcasecmp(s, "no") == 0;
}

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

/* A FILE:LINE problem of the report; kind is "malformed" or "failed"; NULL when out of memory. */
static json_t *error_entry(long line, const char *kind, const char *message, const char *category,
                           const char *execution_id)
{
    json_t *e =
        json_pack("{s:I, s:s, s:s}", "line", (json_int_t)line, "kind", kind, "error", message);
    if (e && category && json_object_set_new(e, "category", json_string(category)) != 0) {
        json_decref(e);
        e = NULL;
    }
    if (e && execution_id && json_object_set_new(e, "execution_id", json_string(execution_id))) {
        json_decref(e);
        e = NULL;
    }
    return e;
}

/* Keep a FILE:LINE problem in the report. */
static int add_error(evaluation *ev, long line, const char *kind, const char *message,
                     const char *category, const char *execution_id, skh_error *err)
{
    json_t *e = error_entry(line, kind, message, category, execution_id);
    if (!e || json_array_append_new(ev->errors, e) != 0)
        return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    return SKH_OK;
}

/* Report a malformed line: SKH_EINVAL once it is in the report (SKH_ENOMEM if not). */
static int malformed(evaluation *ev, long line, skh_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int malformed(evaluation *ev, long line, skh_error *err, const char *fmt, ...)
{
    char why[768], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%.200s:%ld: %s", ev->path, line, why);
    ev->failed++;
    int rc = add_error(ev, line, "malformed", msg, NULL, NULL, err);
    return rc ? rc : SKH_EINVAL;
}

/*
 * Check one line.  SKH_OK with *input (labelled) and the fields set, or
 * SKH_EINVAL after reporting the line as malformed, or SKH_ENOMEM.
 */
static int parse_case(evaluation *ev, long line, const char *text, size_t len, json_t **input,
                      const char **expected, int *critical, json_t **root, skh_error *err)
{
    json_error_t jerr;
    *input = NULL;
    *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root)
        return jerr.column > 0 ? malformed(ev, line, err, "column %d: %s", jerr.column, jerr.text)
                               : malformed(ev, line, err, "%s", jerr.text);
    json_t *r = *root;
    if (!json_is_object(r))
        return malformed(ev, line, err, "a case must be a JSON object, got %s", json_type_name(r));
    /* A misspelt "critical" must not quietly make a critical case ordinary. */
    const char *key;
    json_t *value;
    json_object_foreach(r, key, value)
    {
        if (strcmp(key, "input") != 0 && strcmp(key, "expected") != 0 &&
            strcmp(key, "critical") != 0)
            return malformed(ev, line, err,
                             "unknown key \"%.100s\" (a case has input, expected and critical)",
                             key);
    }
    json_t *in = json_object_get(r, "input");
    json_t *exp = json_object_get(r, "expected");
    json_t *crit = json_object_get(r, "critical");
    if (!in)
        return malformed(ev, line, err, "\"input\" is missing");
    if (!json_is_object(in))
        return malformed(ev, line, err, "\"input\" must be an object, got %s", json_type_name(in));
    if (!exp)
        return malformed(ev, line, err, "\"expected\" is missing");
    if (!json_is_string(exp) || json_string_length(exp) == 0)
        return malformed(ev, line, err, "\"expected\" must be a non-empty string, got %s",
                         json_is_string(exp) ? "\"\"" : json_type_name(exp));
    if (crit && !json_is_boolean(crit))
        return malformed(ev, line, err, "\"critical\" must be true or false, got %s",
                         json_type_name(crit));

    /* The label the outcome scorer checks; a different one in the input is a contradiction. */
    json_t *label = json_object_get(in, "label");
    if (label && !(json_is_string(label) && json_equal(label, exp)))
        return malformed(ev, line, err,
                         "input.label (%s%.100s%s) disagrees with expected \"%.100s\"",
                         json_is_string(label) ? "\"" : "",
                         json_is_string(label) ? json_string_value(label) : json_type_name(label),
                         json_is_string(label) ? "\"" : "", json_string_value(exp));
    if (!label && json_object_set(in, "label", exp) != 0)
        return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    *input = in;
    *expected = json_string_value(exp);
    *critical = json_is_true(crit);
    return SKH_OK;
}

static eval_case *new_case(evaluation *ev)
{
    if (ev->ncases == ev->capcases) {
        size_t cap = ev->capcases ? ev->capcases * 2 : 16;
        eval_case *grown = realloc(ev->cases, cap * sizeof *grown);
        if (!grown)
            return NULL;
        ev->cases = grown;
        ev->capcases = cap;
    }
    eval_case *c = &ev->cases[ev->ncases++];
    memset(c, 0, sizeof *c);
    return c;
}

/* What a finished request decided: its output's "decision" string, or NULL. */
static int take_decision(const skh_result *r, eval_case *c)
{
    const char *out = skh_result_output(r);
    json_t *o = out ? json_loads(out, 0, NULL) : NULL;
    json_t *d = json_object_get(o, "decision");
    int rc = 0;
    if (json_is_string(d) && json_string_length(d) > 0 &&
        !(c->decision = strdup(json_string_value(d))))
        rc = -1;
    json_decref(o);
    return rc;
}

/*
 * Run one good case, on host (the caller's, or a worker's own).  A request
 * that fails counts (it ran and is recorded; c->error keeps why); anything
 * else that stops a request -- the store, a plugin that cannot load -- stops
 * the batch.  Touches nothing but *c, so workers may run cases side by side.
 */
static int run_case(skh_host *host, const char *path, const char *skill, const char *variant,
                    eval_case *c, skh_error *err)
{
    skh_exec_options eo = SKH_EXEC_OPTIONS_INIT;
    eo.variant = variant;
    eo.evaluation = 1;
    eo.expected = c->expected;
    eo.critical = c->critical;
    skh_result *r = NULL;
    skh_error e;
    error_clear(&e);
    int rc = skh_execute(host, skill, c->input, &eo, &r, &e);
    free(c->input);
    c->input = NULL;
    if (rc != SKH_OK && rc != SKH_EFAILED) {
        skh_result_free(r);
        return error_set_category(err, rc, e.category, e.what, "%.200s:%ld: %s", path, c->line,
                                  e.message);
    }
    if (r) {
        unsigned n = skh_result_attempts(r);
        c->ran = 1;
        c->fidelity = n ? skh_result_fidelity(r, n - 1) : 0.0;
        if (take_decision(r, c) != 0) {
            skh_result_free(r);
            return error_set(err, SKH_ENOMEM, path, "out of memory");
        }
    }
    int failed = rc == SKH_EFAILED;
    rc = SKH_OK;
    if (failed) {
        char msg[1400];
        int cat = r ? skh_result_error_category(r) : e.category;
        snprintf(msg, sizeof msg, "%.200s:%ld: %.200s: %.900s", path, c->line,
                 e.what[0] ? e.what : skill, e.message);
        const char *id = r && skh_result_attempts(r)
                             ? skh_result_execution_id(r, skh_result_attempts(r) - 1)
                             : NULL;
        c->error = error_entry(c->line, "failed", msg, cat ? skh_category_name(cat) : NULL, id);
        if (!c->error)
            rc = error_set(err, SKH_ENOMEM, path, "out of memory");
    }
    skh_result_free(r);
    return rc;
}

/* Read the file, line by line, any length; keep each good case, report each bad line. */
static int read_cases(evaluation *ev, FILE *f, skh_error *err)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    int rc = SKH_OK;
    errno = 0;
    while (rc == SKH_OK && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        if (is_blank(buf, (size_t)len))
            continue;
        ev->lines++;
        json_t *root = NULL, *input = NULL;
        const char *expected = NULL;
        int critical = 0;
        rc = parse_case(ev, line, buf, (size_t)len, &input, &expected, &critical, &root, err);
        if (rc == SKH_OK) {
            eval_case *c = new_case(ev);
            if (!c || !(c->input = json_dumps(input, JSON_COMPACT)) ||
                !(c->expected = strdup(expected)))
                rc = error_set(err, SKH_ENOMEM, ev->path, "out of memory");
            else {
                c->line = line;
                c->critical = critical;
            }
        } else if (rc == SKH_EINVAL)
            rc = SKH_OK; /* reported in the report; the batch goes on */
        json_decref(root);
        errno = 0;
    }
    if (rc == SKH_OK && ferror(f))
        rc = line ? error_set(err, SKH_EINVAL, ev->path, "reading after line %ld: %s", line,
                              strerror(errno ? errno : EIO))
                  : error_set(err, SKH_EINVAL, ev->path, "cannot read the case file: %s",
                              strerror(errno ? errno : EIO));
    else if (rc == SKH_OK && ev->lines == 0)
        rc = error_set(err, SKH_EINVAL, ev->path, "no cases: every line is blank");
    free(buf);
    return rc;
}

/*
 * The whole case file, checked before any case runs: text that is not
 * UTF-8, or holds a NUL byte, refuses the file with its line and byte
 * offset (issue 9 item 9), so nothing is half-evaluated and recorded.  *f
 * reads the checked copy, so a file changed meanwhile makes no difference.
 */
static int open_checked(const char *path, char **text, FILE **f, skh_error *err)
{
    FILE *in = fopen(path, "r");
    struct stat sb;
    *text = NULL;
    *f = NULL;
    if (!in) {
        int e = errno;
        return error_set(err, e == ENOENT ? SKH_ENOTFOUND : SKH_EINVAL, path,
                         "cannot read the case file: %s", strerror(e));
    }
    if (fstat(fileno(in), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(in);
        return error_set(err, SKH_EINVAL, path, "cannot read the case file: %s", strerror(EISDIR));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = SKH_OK;
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, in);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    if (!buf)
        rc = error_set(err, SKH_ENOMEM, path, "out of memory");
    else if (ferror(in))
        rc = error_set(err, SKH_EINVAL, path, "cannot read the case file: %s", strerror(EIO));
    fclose(in);
    if (rc == SKH_OK && text_check(path, buf, len, err) != SKH_OK) {
        /* Say which line: the offset alone is hard to find in a long file. */
        const char *nul = memchr(buf, '\0', len);
        size_t at = text_invalid_at(buf, nul ? (size_t)(nul - buf) : len);
        long line = 1;
        if (at == (size_t)-1)
            at = (size_t)(nul - buf);
        for (size_t i = 0; i < at && i < len; i++)
            line += buf[i] == '\n';
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "line %ld: %.990s", line, err->message);
        snprintf(err->message, sizeof err->message, "%s", msg);
        rc = SKH_EINVAL;
    }
    if (rc == SKH_OK && len == 0) {
        /* fmemopen refuses a size of 0: an empty file has no cases. */
        rc = error_set(err, SKH_EINVAL, path, "no cases: the file is empty");
    }
    if (rc == SKH_OK && !(*f = fmemopen(buf, len, "r")))
        rc = error_set(err, SKH_ENOMEM, path, "out of memory");
    if (rc != SKH_OK) {
        free(buf);
        return rc;
    }
    *text = buf;
    return SKH_OK;
}

/* ---- running the cases, one at a time or side by side ------------------------ */

static long error_line(const json_t *e)
{
    return (long)json_integer_value(json_object_get(e, "line"));
}

/* Order the report's errors by line (a stable insertion sort: they come nearly sorted). */
static int sort_errors(evaluation *ev, skh_error *err)
{
    size_t n = json_array_size(ev->errors);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v)
        return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_incref(json_array_get(ev->errors, i));
        size_t j = i;
        for (; j > 0 && error_line(v[j - 1]) > error_line(e); j--)
            v[j] = v[j - 1];
        v[j] = e;
    }
    json_array_clear(ev->errors);
    int rc = SKH_OK;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(ev->errors, v[i]) != 0 && rc == SKH_OK)
            rc = error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    free(v);
    return rc;
}

/*
 * --jobs N: N workers, each with its own host on the same database (a host
 * is not thread-safe), take the next case from a shared counter.  Each case
 * writes only its own slot and the report reads the slots in file order, so
 * the figures are those of a run with one job; only the order the rows land
 * in the database differs.  The first worker uses the caller's host.
 */
typedef struct eval_run {
    skh_host *host;
    evaluation *ev;
    const char *skill, *variant;
    const skh_evaluate_options *o;
    pthread_mutex_t lock;
    size_t next, done;
    int stop;
    long err_line; /* the batch's error: the one of the earliest line */
    skh_error err;
    int rc;
} eval_run;

typedef struct eval_worker {
    eval_run *run;
    pthread_t thread;
    skh_host *host; /* NULL: open one of its own */
} eval_worker;

static void run_failed(eval_run *run, long line, int rc, const skh_error *err)
{
    pthread_mutex_lock(&run->lock);
    if (run->rc == SKH_OK || line < run->err_line) {
        run->rc = rc;
        run->err = *err;
        run->err_line = line;
    }
    run->stop = 1;
    pthread_mutex_unlock(&run->lock);
}

static void *eval_work(void *arg)
{
    eval_worker *w = arg;
    eval_run *run = w->run;
    skh_host *host = w->host;
    skh_error err;
    error_clear(&err);
    if (!host) {
        skh_host_options ho = {.struct_size = sizeof ho,
                               .db_path = run->host->db_path,
                               .policies_dir = run->host->policies_dir,
                               .plugin_path = run->host->plugin_path};
        int rc = skh_host_open(&ho, &host, &err);
        if (rc) {
            run_failed(run, 0, rc, &err);
            return NULL;
        }
    }
    for (;;) {
        pthread_mutex_lock(&run->lock);
        size_t i = run->stop ? run->ev->ncases : run->next++;
        pthread_mutex_unlock(&run->lock);
        if (i >= run->ev->ncases)
            break;
        eval_case *c = &run->ev->cases[i];
        int rc = run_case(host, run->ev->path, run->skill, run->variant, c, &err);
        if (rc) {
            run_failed(run, c->line, rc, &err);
            break;
        }
        pthread_mutex_lock(&run->lock);
        run->done++;
        if (run->o->progress)
            run->o->progress(run->o->progress_arg, run->done, run->ev->ncases);
        pthread_mutex_unlock(&run->lock);
    }
    if (host != w->host)
        skh_host_close(host);
    return NULL;
}

static int run_cases(skh_host *host, evaluation *ev, const char *skill, const char *variant,
                     const skh_evaluate_options *o, skh_error *err)
{
    eval_run run = {.host = host, .ev = ev, .skill = skill, .variant = variant, .o = o};
    size_t jobs = o->jobs > 1 ? o->jobs : 1;
    if (jobs > ev->ncases)
        jobs = ev->ncases ? ev->ncases : 1;
    eval_worker *w = calloc(jobs, sizeof *w);
    if (!w)
        return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    pthread_mutex_init(&run.lock, NULL);
    if (o->progress)
        o->progress(o->progress_arg, 0, ev->ncases);
    size_t started = 1;
    w[0] = (eval_worker){.run = &run, .host = host};
    for (; started < jobs; started++) {
        w[started].run = &run;
        if (pthread_create(&w[started].thread, NULL, eval_work, &w[started]) != 0)
            break; /* fewer workers; the cases still all run */
    }
    eval_work(&w[0]);
    for (size_t i = 1; i < started; i++)
        pthread_join(w[i].thread, NULL);
    pthread_mutex_destroy(&run.lock);
    free(w);
    if (run.rc) {
        *err = run.err;
        return run.rc;
    }
    /* The failed requests join the malformed lines in the report, all in line order. */
    for (size_t i = 0; i < ev->ncases; i++) {
        if (!ev->cases[i].error)
            continue;
        ev->failed++;
        if (json_array_append(ev->errors, ev->cases[i].error) != 0)
            return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    }
    return sort_errors(ev, err);
}

/* The positive class and where it came from (see the top of the file). */
static const char *positive_class(const evaluation *ev, const char *configured, const char **source)
{
    *source = "skill";
    if (configured)
        return configured;
    *source = "expected";
    for (size_t i = 0; i < ev->ncases; i++)
        if (!is_negative_label(ev->cases[i].expected))
            return ev->cases[i].expected;
    *source = "decision";
    for (size_t i = 0; i < ev->ncases; i++)
        if (ev->cases[i].decision && !is_negative_label(ev->cases[i].decision))
            return ev->cases[i].decision;
    *source = NULL;
    return NULL;
}

static json_t *mean_or_null(double sum, long n)
{
    if (n == 0)
        return json_null();
    double m = sum / (double)n;
    return isfinite(m) ? json_real(m) : json_null();
}

static int report(const evaluation *ev, const char *skill, const char *variant,
                  const char *configured, char **json, skh_error *err)
{
    const char *source;
    const char *pos = positive_class(ev, configured, &source);
    long run = 0, correct = 0, negatives = 0, fp = 0, positives = 0, fn = 0, critical_fn = 0;
    double fidelity_sum = 0;
    json_t *wrong = json_array();
    if (!wrong)
        return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    for (size_t i = 0; i < ev->ncases; i++) {
        const eval_case *c = &ev->cases[i];
        if (!c->ran)
            continue;
        run++;
        fidelity_sum += c->fidelity;
        int right = c->decision && strcmp(c->decision, c->expected) == 0;
        int decided_pos = pos && c->decision && strcmp(c->decision, pos) == 0;
        correct += right;
        if (pos && strcmp(c->expected, pos) == 0) {
            positives++;
            if (!decided_pos) {
                fn++;
                critical_fn += c->critical != 0;
            }
        } else {
            negatives++;
            fp += decided_pos;
        }
        if (!right && json_array_append_new(wrong, json_pack("{s:I, s:s, s:s?, s:b}", "line",
                                                             (json_int_t)c->line, "expected",
                                                             c->expected, "decision", c->decision,
                                                             "critical", c->critical)) != 0) {
            json_decref(wrong);
            return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
        }
    }
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:I, s:s?, s:s?, s:f, s:I, s:I, s:I, s:I, "
        "s:I, s:O, s:o}",
        "skill", skill, "variant", variant, "file", ev->path, "cases", (json_int_t)ev->lines, "run",
        (json_int_t)run, "failed", (json_int_t)ev->failed, "fidelity",
        mean_or_null(fidelity_sum, run), "outcome", mean_or_null((double)correct, run), "correct",
        (json_int_t)correct, "positive_class", pos, "positive_class_source", source,
        "false_positive_rate", negatives ? (double)fp / (double)negatives : 0.0, "false_positives",
        (json_int_t)fp, "negatives", (json_int_t)negatives, "positives", (json_int_t)positives,
        "false_negatives", (json_int_t)fn, "critical_false_negatives", (json_int_t)critical_fn,
        "errors", ev->errors, "wrong", wrong);
    *json = j ? json_dumps(j, SKH_JSON_FLAGS) : NULL;
    json_decref(j);
    if (!*json)
        return error_set(err, SKH_ENOMEM, ev->path, "out of memory");
    return SKH_OK;
}

/* The variant every case runs: the one asked for, or the serving one now. */
static int resolve(skh_host *host, const char *skill, const char *variant, store_variant *v,
                   skh_error *err)
{
    int rc = variant ? store_variant_get(host->st, variant, v, err)
                     : store_variant_serving(host->st, skill, v, err);
    if (rc)
        return rc;
    if (strcmp(v->skill, skill) != 0) {
        error_set(err, SKH_EINVAL, "--variant", "%s is a variant of %s, not of %s", variant,
                  v->skill, skill);
        store_variant_free(v);
        return SKH_EINVAL;
    }
    return SKH_OK;
}

SKH_EXPORT int skh_evaluate(skh_host *host, const char *skill, const char *variant,
                            const char *cases_path, char **json, skh_error *err)
{
    skh_evaluate_options o = {.struct_size = sizeof o, .variant = variant};
    return skh_evaluate_with(host, skill, cases_path, &o, json, err);
}

SKH_EXPORT int skh_evaluate_with(skh_host *host, const char *skill, const char *cases_path,
                                 const skh_evaluate_options *opts, char **json, skh_error *err)
{
    skh_evaluate_options o = {.struct_size = sizeof o};
    if (opts)
        memcpy(&o, opts, opts->struct_size < sizeof o ? opts->struct_size : sizeof o);
    const char *variant = o.variant;
    *json = NULL;
    error_clear(err);
    if (!name_is_valid(skill))
        return error_set(err, SKH_EINVAL, "skill name", "'%s' must match [a-z0-9_]{1,64}",
                         skill ? skill : "");
    if (!cases_path || !*cases_path)
        return error_set(err, SKH_EINVAL, "--cases", "a case file is required");

    store_variant v;
    memset(&v, 0, sizeof v);
    int rc = resolve(host, skill, variant, &v, err);
    if (rc)
        return rc;
    char *configured = NULL;
    rc = store_skill_positive_class(host->st, skill, &configured, err);
    if (rc) {
        store_variant_free(&v);
        return rc;
    }
    FILE *f = NULL;
    char *text = NULL;
    if ((rc = open_checked(cases_path, &text, &f, err)) != SKH_OK) {
        free(configured);
        store_variant_free(&v);
        return rc;
    }

    evaluation ev = {.path = cases_path, .errors = json_array()};
    if (!ev.errors)
        rc = error_set(err, SKH_ENOMEM, cases_path, "out of memory");
    if (rc == SKH_OK)
        rc = read_cases(&ev, f, err);
    fclose(f);
    free(text);
    if (rc == SKH_OK)
        rc = run_cases(host, &ev, skill, v.variant_id, &o, err);
    if (rc == SKH_OK)
        rc = report(&ev, skill, v.variant_id, configured, json, err);
    evaluation_free(&ev);
    free(configured);
    store_variant_free(&v);
    return rc;
}
