"""The Redis job engine: broker scripts, claim, finish, running jobs, orphans, heartbeats, cron, task registry."""
