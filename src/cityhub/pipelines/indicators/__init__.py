"""The indicator engine: declared indicators evaluated per region and period over
pinned snapshots, stored with their evidence."""
