"""``pachlet serve``: the Pachyderm 2.x gRPC API subset python-pachyderm 7.x uses, over the pachlet core.

Modules: ``state`` (the shared facade, locks and waiting), ``errors`` (pachlet errors -> gRPC status),
``pfs`` / ``pps`` / ``misc`` (the servicers), ``refs`` (repos and commits named by PFS requests),
``modify`` (ModifyFile buffering and applying), ``scheduler`` (cron ticks and background job processing),
``serve`` (start, stop, signals) and ``cli`` (the ``serve`` click command).
"""
