#!/bin/sh
# Workspace discovery (issue 13, item 4): --db, else $SKILLHOST_DB, else the
# first .skillhost/ at or above the current directory, up to $HOME or /; only
# init creates one.
. "$top_srcdir/tests/cli/lib.sh"

unset SKILLHOST_DB
HOME="$WORK/home"
export HOME
mkdir -p "$HOME/proj/sub/deeper" "$HOME/other"
SKILLHOST=$(cd "$(dirname "$SKILLHOST")" && pwd)/$(basename "$SKILLHOST")
cd "$HOME/proj/sub" || exit 1

expect 4 "no workspace: a store error" skill list
err_has "no workspace" "the error says there is none"
err_has "$HOME/proj/sub" "it names where the walk started"
err_has 'up to $HOME' "and where it stopped"
err_has "'skillhost init'" "and how to make one"
expect 4 "skill add does not create a workspace" skill add spam --impl "$PLUGINS/keyword_classifier.so"
[ -e .skillhost ] && not_ok "no .skillhost/ appeared" || ok "no .skillhost/ appeared"
expect 4 "--json: the error as JSON" --json status spam
out_has '"error"' "error object on stdout"

cd "$HOME/proj" || exit 1
expect 0 "init in proj" init
out_has "workspace ready: .skillhost/skillhost.db" "init makes ./.skillhost here"

cd "$HOME/proj/sub/deeper" || exit 1
expect 0 "skill add two folders down" skill add spam --impl "$PLUGINS/keyword_classifier.so"
out_has "spam@v1" "the variant is registered"
[ -e .skillhost ] || [ -e ../.skillhost ] && not_ok "no second workspace below" ||
    ok "no second workspace below"
same "$(sqlite3 "$HOME/proj/.skillhost/skillhost.db" 'SELECT count(*) FROM skills')" 1 \
    "it landed in proj's workspace"
SKILLHOST_LOG=trace skh skill list
out_has "spam" "skill list from below sees it"
err_has "trace: workspace: $HOME/proj/.skillhost/skillhost.db (found from $HOME/proj/sub/deeper)" \
    "SKILLHOST_LOG=trace says which workspace and from where"
expect 0 "init below a workspace" init
out_has "workspace ready: $HOME/proj/.skillhost/skillhost.db" "init reports the workspace above"
out_has "above the current folder" "and says it is above"
[ -e .skillhost ] && not_ok "init below created nothing" || ok "init below created nothing"
expect 0 "init --json below a workspace" --json init
out_has "\"found_in\": \"$HOME/proj\"" "found_in names the folder"

# --db and $SKILLHOST_DB win over discovery.
expect 4 "--db wins (and is not created by skill list)" --db "$WORK/x.db" skill list
[ -e "$WORK/x.db" ] && not_ok "--db: nothing created" || ok "--db: nothing created"
SKILLHOST_DB="$WORK/y.db" skh skill list
same "$status" 4 "\$SKILLHOST_DB wins"
expect 0 "init --db makes a separate workspace on purpose" --db "$WORK/z/z.db" init
[ -f "$WORK/z/z.db" ] && ok "the separate database exists" || not_ok "the separate database exists"

# The walk stops at $HOME: a workspace above $HOME is not used.
mkdir -p "$WORK/.skillhost"
cd "$HOME/other" || exit 1
expect 4 "a .skillhost/ above \$HOME is not picked up" skill list
cd "$WORK" || exit 1
expect 0 "outside \$HOME: the .skillhost/ here is used" init
out_has "workspace ready: .skillhost/skillhost.db" "the one in the current folder"

done_testing
