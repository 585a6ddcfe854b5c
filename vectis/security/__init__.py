"""Endpoint security: the detections every EDR tool reports (SentinelOne, and ESET, Huntress and Defender after it),
the response actions on them (isolate, release, resolve, mark a false positive) and the suppressions those make."""
