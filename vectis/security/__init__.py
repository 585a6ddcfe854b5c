"""Endpoint security: the detections every EDR tool reports (SentinelOne, ESET, Huntress, Microsoft Defender),
the response actions on them (isolate, release, resolve, mark a false positive) and the suppressions those make."""
