#!/usr/bin/env bash
# Scripting the tourbus CLI: make sure a guide and two tourists exist, create a tour for tomorrow
# with a meeting point, add the tourists, post to the tour's conversation and export it, then
# issue a short-lived token for the guide, use it on the HTTP API and revoke it. Existing users are
# reused, so it can run more than once (each run adds one tour).
#
# Usage:  TOURBUS_SOCKET=tourbus-data/tourbusd.sock TOURBUS=build/cmd/tourbus examples/operator.sh
#
# tourbus exit codes (tourbus(1)): 0 ok, 1 internal error, 2 usage, 3 not found,
# 4 invalid input or conflict, 5 permission denied, 6 daemon unreachable.
set -euo pipefail

tourbus=${TOURBUS:-tourbus}

# Prints one field of the JSON object on stdin (no jq needed).
json_get() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# Is the daemon reachable? `cmd || rc=$?` keeps the exit code without tripping `set -e`.
rc=0
"$tourbus" --quiet status || rc=$?
if ((rc == 6)); then
  echo "operator.sh: tourbusd is not reachable; start it or set TOURBUS_SOCKET" >&2
  exit 1
elif ((rc != 0)); then
  exit "$rc"
fi

# Creates a user unless one with that handle exists. Arguments: handle, then options of `user add`.
ensure_user() {
  local handle=$1 rc=0
  shift
  "$tourbus" --quiet user show "$handle" 2>/dev/null || rc=$?
  case $rc in
    0) echo "user $handle exists" ;;
    3) "$tourbus" --quiet user add "$handle" "$@" && echo "user $handle created" ;;
    *) return "$rc" ;;
  esac
}

ensure_user marco --role guide --name "Marco Bianchi" --tz Europe/Rome --language it
ensure_user anna --name "Anna Rossi" --tz Europe/Rome --phone +393331234567 --quiet-hours 22:00-07:00
ensure_user ben --name "Ben Clark" --tz Europe/London --email ben@example.com --marketing-consent no

# A tour tomorrow morning, local time in Rome. --json prints the created tour as one object.
day=$(date -d tomorrow +%F)
tour=$("$tourbus" --json tour add --title "Colosseum and Forum" --tz Europe/Rome \
  --start "${day}T09:00" --end "${day}T12:30" --guide marco \
  --meeting "Arch of Constantine" --lat 41.8898 --lon 12.4906)
tour_id=$(json_get id <<<"$tour")
echo "tour $tour_id starts at $(json_get starts_local <<<"$tour")"

"$tourbus" --quiet tour join "$tour_id" anna ben

# A refused request: a guide cannot take part as a tourist. The message goes to stderr, the exit
# code says what kind of error it was.
rc=0
"$tourbus" --quiet tour join "$tour_id" marco 2>/dev/null || rc=$?
echo "adding the guide as a participant was refused with exit code $rc (4: invalid input)"

# Every tour has its own conversation, whose members are the guide and the participants; `tour add
# --json` gives its id. From the control socket a message is sent as the platform, or as a user
# with --as. A --client-id makes a rerun of the same send answer "(already sent before)" instead of
# posting twice.
conv=$(json_get conversation <<<"$tour")
"$tourbus" send "$conv" "Welcome! We meet at 9:00 at the Arch of Constantine." --client-id "welcome-$tour_id"
"$tourbus" --as marco send "$conv" --location 41.8898 12.4906 --label "Arch of Constantine"

# Export the conversation as JSON lines, oldest first (written to FILE.partial, then renamed).
export_file=${TMPDIR:-/tmp}/tourbus-conversation-$conv.jsonl
"$tourbus" --quiet conversation export "$conv" -o "$export_file"
echo "conversation $conv: $(wc -l <"$export_file") message(s) exported to $export_file"

# Lists with --json are one JSON object per line.
echo "tourists:"
"$tourbus" --json user list --role tourist |
  python3 -c 'import json, sys
for line in sys.stdin:
    u = json.loads(line)
    print("  %-10s %-20s %s" % (u["handle"], u["display_name"], u["time_zone"]))'

# A token for the guide, valid one day. With --json the answer holds the secret ("token") and
# the id; never print or log the secret.
issued=$("$tourbus" --json token issue marco --label "operator.sh example" --ttl-days 1)
token=$(json_get token <<<"$issued")
token_id=$(json_get id <<<"$issued")

# The guide calls the HTTP API on the TCP listener with the token; a guide sees only own tours.
listen=$("$tourbus" --json status | json_get listen)
if command -v curl >/dev/null; then
  curl -fsS -H "Authorization: Bearer $token" "http://$listen/v1/tours" |
    python3 -c 'import json, sys; print("marco leads %d tour(s)" % len(json.load(sys.stdin)["tours"]))'
fi

"$tourbus" --quiet token revoke "$token_id"
echo "token $token_id revoked"
