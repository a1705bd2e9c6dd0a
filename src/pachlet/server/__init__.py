"""``pachlet serve``: the Pachyderm 2.x gRPC API subset python-pachyderm 7.x uses, over the pachlet core.

Modules: ``state`` (the shared facade, locks and waiting), ``errors`` (pachlet errors -> gRPC status),
``pfs`` / ``pps`` / ``misc`` (the servicers), ``scheduler`` (cron ticks and background job processing),
``serve`` (start, stop, signals) and ``cli`` (the ``serve`` click command).
"""
