"""The phases of a run, each a module: connect (the health race, failover, key, types, album),
precheck (hashing and the bulk upload check), upload (the bounded pool of uploads, one result per
file), album (the batched link), jobs (pausing the server's heavy queues), held (files waiting
for the local URL), tuning (how many uploads at once). ``run.sync`` calls them in order. They
talk to the server through ``calls.ImmichCalls`` (the few calls they use), get values and the
project's own exceptions, and never see a status code.
"""
