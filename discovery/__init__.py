"""Discovery definitions, schedules, runs and ingestion."""
