"""Real local clusters on 127.0.0.1 (Hadoop HDFS + YARN + MapReduce, Spark standalone)."""
