"""The benchmark harness behind ``bench/run.py``.

* ``loadgen``: the asyncio HTTP client, timed requests and users;
* ``stats``: what is recorded per operation and its percentiles;
* ``workload``: the mixed workload (setup, operations, client loops, propagation probes);
* ``resources``: CPU and memory of the processes, sampled from ``/proc``;
* ``stacks``: a stack of our own, with one or two replicas of each service;
* ``consistency``: the optional consistency checker (``ops_tools.consistency``);
* ``scenarios``: ``mixed``, ``saga`` and ``replicas``;
* ``report``: the JSON, the readable table and the charts.
"""
