"""PPS: pachlet's pipeline system (pipelines, jobs, datums, execution, cron), split by role like
pachd's ``src/server/worker/pipeline/transform/``. ``pachlet.pps.service.PPS`` is the entry point."""
