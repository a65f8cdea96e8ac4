"""Streaming: Spark Structured Streaming sources over Delta and Redis Streams, windowed
aggregations with a watermark, and exactly-once sinks (Delta app transactions, newer-wins Redis)."""
