package bdbench.spark;

import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.spark.SparkContext;
import org.apache.spark.SparkContext$;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Project;
import org.apache.spark.sql.internal.SQLConf;

import scala.Option;
import scala.math.BigInt;

/**
 * The planner's cost model: per-row costs and selectivities of Python UDFs (looked up by the
 * UDF's name), the fixed cost of an eval node, the rows a plan reads and how many workers share
 * them. Every figure is in seconds, so a node's fixed cost and its rows x per-row costs add up.
 *
 * <p>Per-row cost, first source that knows it (the same as {@code harness/spark_rules/costs.py}):
 * the SQL conf key {@code spark.bdbench.udf.cost.<name>} (read at planning time, so
 * {@code spark.conf.set} between queries counts); else the paper's naming convention, where
 * the last {@code _<number>} of the name is the cost ({@code udfA_99} costs 99); else the Python
 * {@code @costed} declaration ({@code spark.bdbench.udf.declared.*}); else a measured profile
 * ({@code spark.bdbench.udf.measured.*}); else {@link #UNKNOWN_COST}. Measured costs are seconds
 * per row; the others are cost units of {@code spark.bdbench.udf.costUnit} seconds each
 * (default {@link #DEFAULT_COST_UNIT}: one unit is a microsecond). Selectivity (fraction of rows
 * passing) comes from the conf, the declaration or the profile; unknown is
 * {@link #DEFAULT_SELECTIVITY}.
 *
 * <p>Each UDF of a node also pays a per-row call cost (the row's trip to the Python worker and
 * back): {@code spark.bdbench.udf.callCost}, else the probe's
 * {@code spark.bdbench.udf.measured.callCost}, else {@link #DEFAULT_CALL_COST}.
 *
 * <p>Fixed cost of one eval node per query: {@code spark.bdbench.udf.nodeCost}, else the
 * probe's {@code spark.bdbench.udf.measured.nodeCost}, else {@link #DEFAULT_NODE_COST}. Rows:
 * Catalyst's row count of the plan under the UDFs (or under its projections) when it has one,
 * else the profile's
 * {@code spark.bdbench.udf.measured.rows.<name>}, else {@link #DEFAULT_ROWS}. Workers:
 * {@code spark.bdbench.udf.parallelism}, else the running context's default parallelism.
 *
 * <p>A bad annotation in any source (not a number, a negative cost, a selectivity outside
 * [0, 1], a constrained flag other than true/false) fails planning with one message naming the
 * UDF and the key, even when another source would win: a planner that skipped it would plan on
 * numbers nobody set.
 *
 * <p>A UDF is <em>constrained</em> (must run once per row, see {@code ConstrainedUdfBarrier})
 * when {@code spark.bdbench.udf.constrained.<name>} is {@code true}, else when the Python
 * {@code @costed(constrained=True)} declaration says so
 * ({@code spark.bdbench.udf.declared.constrained.<name>}); a conf {@code false} beats a
 * declared {@code true}.
 *
 * <p>The rules' on/off switches live apart, in {@link RuleSwitches}.
 */
public final class UdfCostModel {

    /** Prefix of the per-UDF cost conf key; the UDF name follows. */
    public static final String COST_PREFIX = "spark.bdbench.udf.cost.";
    /** Prefix of the per-UDF selectivity conf key (fraction of rows that pass, 0..1). */
    public static final String SELECTIVITY_PREFIX = "spark.bdbench.udf.selectivity.";
    /** Prefix of the {@code @costed} declarations (below the conf and the name suffix). */
    public static final String DECLARED_PREFIX = "spark.bdbench.udf.declared.";
    /** Prefix of measured profiles (the lowest precedence; costs in seconds per row). */
    public static final String MEASURED_PREFIX = "spark.bdbench.udf.measured.";
    /** Prefix of the per-UDF "constrained" flag (true: the UDF must run once per row). */
    public static final String CONSTRAINED_PREFIX = "spark.bdbench.udf.constrained.";
    /** Seconds per cost unit of the conf, name-suffix and declared costs. */
    public static final String COST_UNIT_KEY = "spark.bdbench.udf.costUnit";
    /** Fixed seconds per eval node per query, set by hand. */
    public static final String NODE_COST_KEY = "spark.bdbench.udf.nodeCost";
    /** Fixed seconds per eval node per query, as the probe measured it. */
    public static final String MEASURED_NODE_COST_KEY = MEASURED_PREFIX + "nodeCost";
    /** Seconds per row of calling any Python UDF in a node (rows to Python and back), set by hand. */
    public static final String CALL_COST_KEY = "spark.bdbench.udf.callCost";
    /** The same, as the probe measured it. */
    public static final String MEASURED_CALL_COST_KEY = MEASURED_PREFIX + "callCost";
    /** Workers evaluating a node's rows at the same time. */
    public static final String PARALLELISM_KEY = "spark.bdbench.udf.parallelism";
    /** Cost, in units, of a UDF without any cost annotation. */
    public static final double UNKNOWN_COST = 1.0;
    /** Seconds per cost unit unless {@link #COST_UNIT_KEY} says otherwise. */
    public static final double DEFAULT_COST_UNIT = 1e-6;
    /** Selectivity of a UDF without a selectivity annotation. */
    public static final double DEFAULT_SELECTIVITY = 0.5;
    /** Node cost (seconds) when neither set nor measured. */
    public static final double DEFAULT_NODE_COST = 0.05;
    /** Call cost (seconds per row) when neither set nor measured. */
    public static final double DEFAULT_CALL_COST = 1e-6;
    /** Rows read when neither Catalyst nor a profile knows. */
    public static final double DEFAULT_ROWS = 1_000_000;

    /** The paper's convention: a trailing "_<number>" is the cost. */
    private static final Pattern COST_SUFFIX = Pattern.compile("_(\\d+(?:\\.\\d+)?)$");

    private final ConfReader conf;

    /** A cost model reading annotations from {@code conf} (use {@link SQLConf#get()} at planning time). */
    public UdfCostModel(SQLConf conf) {
        this.conf = new ConfReader(conf);
    }

    /** A cost model over the SQL conf of the session that is currently planning or optimizing. */
    public static UdfCostModel current() {
        return new UdfCostModel(SQLConf.get());
    }

    private static String udf(String name) {
        return "UDF '" + name + "'";
    }

    /** A per-UDF cost from {@code key}: empty when unset; negative is an error. */
    private OptionalDouble costAt(String key, String name) {
        OptionalDouble v = conf.strictNumber(key, udf(name));
        if (v.isPresent() && v.getAsDouble() < 0) {
            throw new IllegalArgumentException(String.format(
                    "bdbench rules: %s: %s = %s is a negative cost", udf(name), key, v.getAsDouble()));
        }
        return v;
    }

    /** Seconds per cost unit ({@link #COST_UNIT_KEY}, must be positive). */
    public double costUnit() {
        OptionalDouble v = conf.strictNumber(COST_UNIT_KEY, "cost unit");
        if (v.isPresent() && v.getAsDouble() <= 0) {
            throw new IllegalArgumentException(String.format(
                    "bdbench rules: %s = %s is not a positive number of seconds", COST_UNIT_KEY,
                    v.getAsDouble()));
        }
        return v.orElse(DEFAULT_COST_UNIT);
    }

    /**
     * Seconds per row of one call of the named UDF: conf, else name suffix, else declared (all
     * three in cost units), else measured (seconds), else {@link #UNKNOWN_COST} units.
     */
    public double costOfName(String name) {
        // Every source is read, so a malformed one fails even when another one wins.
        OptionalDouble fromConf = costAt(COST_PREFIX + name, name);
        OptionalDouble declared = costAt(DECLARED_PREFIX + "cost." + name, name);
        OptionalDouble measured = costAt(MEASURED_PREFIX + "cost." + name, name);
        double unit = costUnit();
        if (fromConf.isPresent()) {
            return fromConf.getAsDouble() * unit;
        }
        Matcher m = COST_SUFFIX.matcher(name == null ? "" : name);
        if (m.find()) {
            return Double.parseDouble(m.group(1)) * unit;
        }
        if (declared.isPresent()) {
            return declared.getAsDouble() * unit;
        }
        return measured.isPresent() ? measured.getAsDouble() : UNKNOWN_COST * unit;
    }

    /** Whether any source gives the named UDF a cost (else {@link #UNKNOWN_COST} stands in). */
    public boolean hasCost(String name) {
        return costAt(COST_PREFIX + name, name).isPresent()
                || COST_SUFFIX.matcher(name == null ? "" : name).find()
                || costAt(DECLARED_PREFIX + "cost." + name, name).isPresent()
                || costAt(MEASURED_PREFIX + "cost." + name, name).isPresent();
    }

    /**
     * Seconds per row of evaluating a UDF expression: the sum over every Python UDF in it,
     * because a chained call such as {@code f(g(x))} runs both functions per row.
     */
    public double costOf(PythonUDF udf) {
        return costOfCalls(udf);
    }

    /**
     * Cost of a predicate: the sum of the costs of the Python UDFs it calls; a predicate with
     * no Python UDF costs 0 (JVM expressions are orders of magnitude cheaper).
     */
    public double costOfPredicate(Expression predicate) {
        return costOfCalls(predicate);
    }

    private double costOfCalls(Expression e) {
        double total = 0;
        for (PythonUDF u : PythonEvalNodes.udfCallsIn(e)) {
            total += costOfName(u.name());
        }
        return total;
    }

    /** Annotated selectivity (fraction of rows passing) of the named UDF, if any. */
    public OptionalDouble selectivityOfName(String name) {
        OptionalDouble found = OptionalDouble.empty();
        for (String key : new String[] {SELECTIVITY_PREFIX + name,
                DECLARED_PREFIX + "selectivity." + name, MEASURED_PREFIX + "selectivity." + name}) {
            OptionalDouble s = conf.strictNumber(key, udf(name));
            if (s.isPresent() && (s.getAsDouble() < 0 || s.getAsDouble() > 1)) {
                throw new IllegalArgumentException(String.format(
                        "bdbench rules: %s: %s = %s is not a selectivity in [0, 1]",
                        udf(name), key, s.getAsDouble()));
            }
            if (found.isEmpty()) {
                found = s;
            }
        }
        return found;
    }

    /** Selectivity the planner uses: the annotation, else {@link #DEFAULT_SELECTIVITY}. */
    public double selectivityOf(PythonUDF udf) {
        return selectivityOfName(udf.name()).orElse(DEFAULT_SELECTIVITY);
    }

    /**
     * Whether the named UDF is constrained: the conf flag, else the {@code @costed} declaration,
     * else false.
     */
    public boolean isConstrained(String name) {
        Optional<Boolean> fromConf = conf.strictBool(CONSTRAINED_PREFIX + name, udf(name));
        Optional<Boolean> declared = conf.strictBool(DECLARED_PREFIX + "constrained." + name,
                udf(name));
        return fromConf.or(() -> declared).orElse(false);
    }

    /** Fixed seconds one eval node adds to a query: set, else measured, else the default. */
    public double nodeCost() {
        return modelFigure(NODE_COST_KEY, MEASURED_NODE_COST_KEY, "node cost", DEFAULT_NODE_COST);
    }

    /**
     * Seconds per row that calling a UDF in an eval node adds to its own cost (the row's trip
     * to the Python worker and back): set, else measured, else the default.
     */
    public double callCost() {
        return modelFigure(CALL_COST_KEY, MEASURED_CALL_COST_KEY, "call cost", DEFAULT_CALL_COST);
    }

    /** A non-negative figure of the model: set, else measured, else {@code dflt}. */
    private double modelFigure(String setKey, String measuredKey, String what, double dflt) {
        for (String key : new String[] {setKey, measuredKey}) {
            OptionalDouble v = conf.strictNumber(key, what);
            if (v.isPresent()) {
                if (v.getAsDouble() < 0) {
                    throw new IllegalArgumentException(String.format(
                            "bdbench rules: %s = %s is a negative %s", key, v.getAsDouble(), what));
                }
                return v.getAsDouble();
            }
        }
        return dflt;
    }

    /** Workers sharing a node's rows: set, else the running context's default parallelism. */
    public double parallelism() {
        OptionalDouble v = conf.strictNumber(PARALLELISM_KEY, "parallelism");
        if (v.isPresent()) {
            if (v.getAsDouble() < 1) {
                throw new IllegalArgumentException(String.format(
                        "bdbench rules: %s = %s is not a number of workers >= 1", PARALLELISM_KEY,
                        v.getAsDouble()));
            }
            return v.getAsDouble();
        }
        Option<SparkContext> sc = SparkContext$.MODULE$.getActive();
        return sc.isDefined() ? Math.max(1, sc.get().defaultParallelism()) : 1;
    }

    /**
     * Rows that {@code base} gives the UDFs {@code names}: Catalyst's row count when known, else
     * the largest profiled row count of those UDFs, else {@link #DEFAULT_ROWS}.
     */
    public double rowsOf(LogicalPlan base, List<String> names) {
        // A projection keeps its child's rows, but Catalyst's size-only statistics drop the
        // count there (spark.range(n).select(...)): look through projections.
        LogicalPlan node = base;
        while (true) {
            Option<BigInt> count = node.stats().rowCount();
            if (count.isDefined()) {
                return count.get().doubleValue();
            }
            if (!(node instanceof Project)) {
                break;
            }
            node = ((Project) node).child();
        }
        double rows = -1;
        for (String name : names) {
            OptionalDouble v = conf.strictNumber(MEASURED_PREFIX + "rows." + name, udf(name));
            if (v.isPresent() && v.getAsDouble() >= 0) {
                rows = Math.max(rows, v.getAsDouble());
            }
        }
        return rows >= 0 ? rows : DEFAULT_ROWS;
    }

    /** Rows per worker that {@code base} gives the UDFs {@code names}. */
    public double rowsPerWorker(LogicalPlan base, List<String> names) {
        return rowsOf(base, names) / parallelism();
    }

    /** Ordering rank of a filter on {@code udf}'s result: {@link #rank} of its cost and selectivity. */
    public double rankOf(PythonUDF udf) {
        return rank(costOf(udf), selectivityOf(udf));
    }

    /**
     * Ordering rank of a filter step: cost / (1 - selectivity), the classic rank for ordering
     * independent expensive predicates. A predicate that passes every row removes nothing, so
     * it ranks last.
     */
    public static double rank(double cost, double selectivity) {
        if (selectivity >= 1.0) {
            return Double.POSITIVE_INFINITY;
        }
        return cost / (1.0 - selectivity);
    }
}
