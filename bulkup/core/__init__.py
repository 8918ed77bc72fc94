"""The sans-IO core: one upload's state machine, the two API dialects (requests built,
answers parsed), retry policy, resume rules and the records they judge, the API's facts.
Nothing here awaits or does I/O; the client performs what it decides.
"""
