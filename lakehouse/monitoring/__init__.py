"""Feature health monitoring in the data plane: profiles, drift statistics, the metrics table."""
