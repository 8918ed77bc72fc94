"""Beyond one process: a work queue on Redis, workers on any number of hosts, the jobs'
dashboard and metrics (issue [6/6]; the design is in ``docs/fleet.md``).

Nothing here is imported by ``bulkup upload``: one machine needs none of it.
"""
