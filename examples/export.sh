#!/bin/sh
# Exports the reminders (the review requests included) and the event rules of the running tourbusd
# as CSV: one row each with its trigger, audience, template, state, next and last firing and its
# firing counts, in DIR/reminders-YYYY-Www.csv and DIR/rules-YYYY-Www.csv (the ISO week, UTC).
# A run in the same week replaces that week's files.
#
# Usage: export.sh [DIR]      (default: /var/lib/tourbus-export)
#
# Needs jq. The CLI finds the control socket as tourbus(1) says; set TOURBUS_SOCKET to name it.
# Set TOURBUS to the path of the CLI if it is not on PATH. Exits with the CLI's status when the
# daemon does not answer (6: unreachable). Installed by hand as /usr/local/sbin/tourbus-export, it
# is what examples/systemd/tourbus-export.service and the export line of examples/crontab run.
set -eu

dir=${1:-/var/lib/tourbus-export}
tourbus=${TOURBUS:-tourbus}
week=$(date -u +%G-W%V)
mkdir -p "$dir"
trap 'rm -f "$dir/.reminder.jsonl" "$dir/.rule.jsonl"' EXIT

# `tourbus --json ... list` prints one JSON object a line; this prints a header and a row each.
to_csv() {
  jq -rs '(["name", "kind", "event", "state", "trigger", "audience", "template", "catch_up",
            "next_due", "last_fired_at", "fired", "skipped", "cancelled", "pending"] | @csv),
          (.[] | [.name, .kind, .event, .state, .trigger, .audience, .template, .catch_up,
                  .next_due, .last_fired_at, .firings.fired, .firings.skipped,
                  .firings.cancelled, .firings.pending] | @csv)'
}

# Arguments: the command family (reminder, rule) and the file name. The CSV is written as
# .partial and renamed when complete.
export_list() {
  "$tourbus" --json "$1" list > "$dir/.$1.jsonl"
  to_csv < "$dir/.$1.jsonl" > "$dir/$2.partial"
  mv "$dir/$2.partial" "$dir/$2"
}

export_list reminder "reminders-$week.csv"
export_list rule "rules-$week.csv"
