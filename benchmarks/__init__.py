"""batchpoll against the ways people poll today, side by side (``python -m benchmarks``).

B1 bulk runs on the mock, B2 the check-schedule frontier (pure simulation), B3 scale of the
scheduler, B4 rate adherence. See docs/benchmarks.md; results land in benchmarks/results/.
"""
