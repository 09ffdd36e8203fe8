"""Access: API clients and their tokens, the catalogue in the hub database, grants
and the one access decision, and the audit log."""
