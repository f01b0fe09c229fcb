# bdbench: `make run` (main job) and `make test` (tests). Both set up .venv first, idempotently.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bdbench-installed
# The main job: every workload x every cell available here, at small (18 minutes on 2 cores);
# make run SCALE=tiny is a first look: each cell's warm-up and about one value (MAX_TIME=1),
# the stream fed faster and Spark JVMs shared between cells (FEED_RATE, SHARE below).
# Values per cell: bdbench run's adaptive rule; e.g. make run WORKLOADS=udf_filter,udf_map
# RUN_ARGS='--max-time 120' for more values of the slow cells.
SCALE ?= small
WORKLOADS ?=
RUN_ARGS ?=
MAX_TIME ?= $(if $(filter tiny,$(SCALE)),1)
# At tiny, the stream's own rate is 260 events/s over 20 s: a first look feeds it at 1500/s
# (about 4 s per fed run; the rate is recorded in each run's params).
FEED_RATE ?= $(if $(filter tiny,$(SCALE)),1500)
SELECT := $(if $(WORKLOADS),--workload $(WORKLOADS))
BUDGET := $(if $(MAX_TIME),--max-time $(MAX_TIME))
FEEDS := $(if $(WORKLOADS),$(findstring stream_window,$(WORKLOADS)),stream_window)
FEED := $(if $(and $(FEED_RATE),$(FEEDS)),--param rate=$(FEED_RATE))
# At tiny, a Spark JVM's start-up (7-14 s) dwarfs its calls: a first look lets one JVM serve
# the next cells with the same settings (a new SparkSession each; recorded, see README).
SHARE ?= $(if $(filter tiny,$(SCALE)),--share-engines)

# HotCloud 2010's logistic regression at its data per core (29 GB on 80 cores: about 370 MB a
# core; logreg's CSV holds 203.5 bytes a point, so 1,820,000 points a core) on the local
# cluster, with a ladder below it for the trend; 5 iterations instead of the default 20.
CORES ?= $(shell nproc)
HOTCLOUD_ROWS ?= 200000,800000,$(shell echo $$((1820000 * $(CORES))))

# What a lost worker costs (README, "Recovery"): logreg at small, 10 iterations, on the local
# cluster (two NodeManagers and two Spark workers: one is lost, one goes on), a worker node
# killed after iteration 5 of each fault run, 3 control/fault pairs per cell (about 30 minutes).
FAULT ?= kill-worker@iteration=5

.PHONY: setup run test lint format clean rules hadoop ladder hotcloud recovery

# The rules jar is rebuilt only when its Java sources, pyspark or javac change (cached by hash).
setup: $(STAMP) rules hadoop

rules: $(STAMP)
	@$(BIN)/python -m harness.spark_rules

# Hadoop for the local cluster, from Maven Central (pinned in harness/clusters/maven/pom.xml,
# cached under .bdbench/hadoop/ by the pom's hash). Without mvn the cluster cells are skipped.
hadoop: $(STAMP)
	@if command -v mvn >/dev/null 2>&1; then \
		$(BIN)/python -c 'from harness.clusters.hadoop import fetch; print("hadoop:", fetch(quiet=True))'; \
	else echo "note: no mvn found; the local Hadoop cluster and its cells will be skipped (install Maven 3.8+)"; fi

# Reinstall only when the dependency list changes; the editable install picks up code changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bdbench needs Python 3.11+: run make PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[engines,test,lint]'
	@command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ] || echo "note: no Java found; Spark cells will be recorded as skipped (install a JDK 17+)"
	@touch $@

run: setup
	$(BIN)/bdbench datagen $(SELECT) --scale $(SCALE)
	$(BIN)/bdbench run $(SELECT) --scale $(SCALE) $(BUDGET) $(FEED) $(SHARE) --report report $(RUN_ARGS)

# The default size ladder of every non-cluster cell of wordcount, logreg and kmeans (README,
# "Scaling": 52 minutes measured on 2 cores); its report in report/ladder.
ladder: setup
	$(BIN)/bdbench scale -w wordcount,logreg,kmeans --results results/ladder --report report/ladder $(RUN_ARGS)

hotcloud: setup
	$(BIN)/bdbench scale --cluster local -w logreg -e mrjob/hadoop,spark/rdd --rules off \
		--rows $(HOTCLOUD_ROWS) --param iterations=5 --max-call 1200 --timeout 1800 \
		--results results/hotcloud --report report/hotcloud $(RUN_ARGS)

recovery: setup
	$(BIN)/bdbench run --cluster local -w logreg -e spark/rdd,mrjob/hadoop --rules off -s small \
		--param iterations=10 --inject $(FAULT) --timeout 1800 \
		--results results/recovery --report report/recovery $(RUN_ARGS)

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .bdbench build *.egg-info .pytest_cache .ruff_cache
