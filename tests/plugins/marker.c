/*
 * A skill whose constructor leaves a trace: when SKH_MARKER names a file,
 * loading the object appends "loaded\n" to it before any entry point or
 * init is called.  The trust tests use it to prove that a changed plugin is
 * refused before anything of it runs (DESIGN §3.4).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <skillhost/plugin.h>

__attribute__((constructor)) static void leave_marker(void)
{
    const char *path = getenv("SKH_MARKER");
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write(fd, "loaded\n", 7) != 7) {
        /* nothing to do: the test sees a missing line */
    }
    close(fd);
}

static int cb_execute(void *state, skh_call *call)
{
    (void)state;
    skh_step(call, "a");
    return skh_output(call, "{\"decision\":\"ok\",\"confidence\":1.0}");
}

SKH_PLUGIN(skill, "marker", "1.0.0", .description = "A skill whose constructor leaves a marker",
           .patterns = "a", .execute = cb_execute)
