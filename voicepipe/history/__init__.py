"""Job history: the recorder that folds events into PostgreSQL, monitoring, statistics, retention, metrics."""
