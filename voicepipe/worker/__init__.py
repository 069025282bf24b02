"""The worker process: runs jobs from several queues in one event loop."""
