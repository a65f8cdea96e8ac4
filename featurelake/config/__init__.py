"""Settings: featurelake.yaml, the environment, deployment outputs and Feast's Redis connection string."""
