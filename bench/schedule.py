"""The schedule scenario: bench/schedule_bench (lib/schedule on a real store, no daemon) firing
reminders and running a campaign, each against notify::plan of the same notifications; and its
section of BENCHMARKS.md. See bench/README.md."""

import json
import os
import subprocess


def run(build, users, cpu, wait_quiet, log):
    """Each part in a process of its own, pinned to `cpu`, so its peak RSS is its own."""
    out = {}
    for part in ("firings", "campaign"):
        wait_quiet("schedule %s" % part)
        argv = ["taskset", "-c", cpu, os.path.join(build, "bench", "schedule_bench"), "--users", str(users),
                "--part", part]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError("schedule_bench --part %s failed (exit %d)" % (part, proc.returncode))
        out[part] = next(json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{"))
    f, c = out["firings"], out["campaign"]
    log("schedule firings: %.0f/s (reference %.0f/s, %.2fx its time)" % (
        f["firings_per_second"], f["reference_per_second"], f["fire_over_reference"]))
    log("schedule campaign: %d recipients planned in %.2f s, queued in %.2f s (%.2fx plain sends), RSS +%d KiB" % (
        c["recipients"], c["plan_seconds"], c["queue_seconds"], c["campaign_over_reference"], c["rss_growth_kib"]))
    return out


def _n(x, digits=0):
    return ("{:,.%df}" % digits).format(x)


def render(s):
    f, c = s["firings"], s["campaign"]
    out = []
    w = out.append
    w("## Scheduler and campaigns\n")
    w("lib/schedule driven by `bench/schedule_bench` (no daemon, no sockets), pinned to CPU 0, on SQLite files "
      "on disk: every write through `store::Writer` as tourbusd makes it (WAL, `synchronous = full`: an fsync "
      "per commit), the real channel catalog with only `inapp` configured, templates on disk, signed links in "
      "every message as the daemon adds them. Each figure has a reference on a database of its own holding "
      "the same users: `notify::plan` of the same notifications with no scheduler or campaign around them, in "
      "transactions of the same size. Ratios are times, measured ÷ reference (lower is better).\n")
    w("**Firings.** %s users on %s tours of 100, a tour reminder (`start-1h`) planned for every participant: "
      "%s pending firings, all due at once. Fired as the Scheduler does, `fire_due` 256 per write transaction "
      "until none is left (each firing re-checks its tour and participant, renders the tour's variables, "
      "stores its notification under the firing's idempotency key and marks itself fired); the per-firing "
      "log lines tourbusd writes are not included. Planning them (`plan_schedule`, one transaction) took "
      "%.2f s.\n" % (_n(f["users"]), _n(f["tours"]), _n(f["pending"]), f["plan_seconds"]))
    w("| | notifications | in-app jobs | transactions | seconds | per second | ÷ reference (time) |")
    w("|---|---|---|---|---|---|---|")
    w("| scheduler: `fire_due`, 256 per transaction | %s | %s | %s | %.2f | %s | **%.2f×** |" % (
        _n(f["fired"]), _n(f["jobs"]), _n(f["transactions"]), f["fire_seconds"], _n(f["firings_per_second"]),
        f["fire_over_reference"]))
    w("| reference: `notify::plan` of the same reminders, 256 per transaction | %s | %s | %s | %.2f | %s | |\n" % (
        _n(f["reference_jobs"]), _n(f["reference_jobs"]), _n(f["reference_transactions"]), f["reference_seconds"],
        _n(f["reference_per_second"])))
    w("**Campaign.** %s users with marketing consent, a campaign to the segment `consent`, unthrottled: *plan* "
      "is `start_campaign` (the segment run once into %s recipient rows, one transaction); *queue* is "
      "`run_step` 500 recipients per transaction until none is pending (each batch re-checks consent, the "
      "frequency cap and quiet hours with the default config, stores one notification and marks its "
      "recipients queued). The reference sends the same template to the same users as `notify.send` would, "
      "500 users per send, one send per transaction.\n" % (_n(c["users"]), _n(c["recipients"])))
    w("| | recipients | in-app jobs | transactions | seconds | recipients/s | ÷ reference (time) |")
    w("|---|---|---|---|---|---|---|")
    w("| plan: `start_campaign` | %s | | 1 | %.2f | %s | |" % (
        _n(c["recipients"]), c["plan_seconds"], _n(c["recipients"] / c["plan_seconds"])))
    w("| queue: `run_step`, 500 per transaction | %s | %s | %s | %.2f | %s | %.2f× |" % (
        _n(c["queued"]), _n(c["jobs"]), _n(c["transactions"]), c["queue_seconds"], _n(c["queue_per_second"]),
        c["queue_seconds"] / c["reference_seconds"]))
    w("| campaign: plan + queue | %s | %s | %s | %.2f | %s | **%.2f×** |" % (
        _n(c["recipients"]), _n(c["jobs"]), _n(c["transactions"] + 1), c["total_seconds"],
        _n(c["recipients_per_second"]), c["campaign_over_reference"]))
    w("| reference: plain sends of 500 | %s | %s | %s | %.2f | %s | |\n" % (
        _n(c["reference_jobs"]), _n(c["reference_jobs"]), _n(c["reference_transactions"]), c["reference_seconds"],
        _n(c["reference_per_second"])))
    w("Memory of the campaign's process (VmRSS, sampled after planning and after every batch): %.1f MiB before "
      "the campaign, %.1f MiB at its peak, so **+%.1f MiB** for %s recipients; %.1f MiB after it. Peak RSS of the "
      "process (`ru_maxrss`, the setup of the %s users included): %.1f MiB.\n" % (
          c["rss_before_kib"] / 1024, c["rss_peak_kib"] / 1024, c["rss_growth_kib"] / 1024, _n(c["recipients"]),
          c["rss_after_kib"] / 1024, _n(c["users"]), c["max_rss_kib"] / 1024))
    return "\n".join(out)
