"""Feast plugins: the offline store and the materialization engine that route Feast to featurelake's jobs."""
