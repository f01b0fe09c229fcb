"""What the ``udf_filter`` and ``udf_map`` workloads share: the Python UDFs (``udfs``), their
numpy twins (``vectorised``), the load-case histories both read (``data``) and the Spark side
of counting UDF calls and warming a session's Python workers (``spark``).

Neither workload imports the other; both import from here.
"""
