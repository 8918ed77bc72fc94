"""The files of a run: the checkpoint (journal and snapshot), the JSON Lines report, post
groups, and the exit status table.
"""
