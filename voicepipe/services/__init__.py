"""Use cases: what web handlers, jobs and commands ask voicepipe to do."""
