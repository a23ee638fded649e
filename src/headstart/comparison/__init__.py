"""``headstart compare``: train several strategies over several seeds, reusing every cache,
and report quality, cost and variance side by side (``runner``, ``summary``, ``plots``,
``report``)."""
