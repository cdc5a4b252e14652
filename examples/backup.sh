#!/bin/sh
# Backs up the tourbus database through the running daemon (`tourbus backup`: a consistent copy,
# taken while tourbusd keeps serving), checks the copy, and deletes copies older than KEEP_DAYS.
#
# Usage: backup.sh [DIR [KEEP_DAYS]]      (defaults: /var/backups/tourbus, 14)
#
# The CLI finds the control socket as tourbus(1) says; set TOURBUS_SOCKET to name it (the systemd
# unit tourbus-backup.service sets /run/tourbus/tourbusd.sock). Set TOURBUS to the path of the CLI
# if it is not on PATH. Exits with the CLI's status when the backup fails (6: daemon unreachable).
# `cmake --install` installs it as <prefix>/sbin/tourbus-backup, which tourbus-backup.service runs.
set -eu

dir=${1:-/var/backups/tourbus}
keep_days=${2:-14}
tourbus=${TOURBUS:-tourbus}

umask 077  # the copy holds every user's data
mkdir -p "$dir"
file="$dir/tourbus-$(date -u +%Y%m%dT%H%M%SZ).db"

# Streamed to $file.partial, synced to disk and renamed when complete.
"$tourbus" --quiet backup "$file"

if command -v sqlite3 >/dev/null 2>&1; then
  check=$(sqlite3 "$file" 'PRAGMA quick_check;')
  if [ "$check" != ok ]; then
    echo "backup.sh: $file fails PRAGMA quick_check: $check" >&2
    exit 1
  fi
fi

# Leftovers of interrupted runs, then copies older than KEEP_DAYS days.
find "$dir" -maxdepth 1 -type f -name 'tourbus-*.db.partial' -mmin +60 -delete
find "$dir" -maxdepth 1 -type f -name 'tourbus-*.db' -mtime +"$keep_days" -delete
