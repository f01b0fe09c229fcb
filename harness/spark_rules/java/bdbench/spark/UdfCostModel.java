package bdbench.spark;

import java.util.Optional;
import java.util.OptionalDouble;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.internal.SQLConf;

/**
 * Cost and selectivity annotations for Python UDFs, looked up by the UDF's name.
 *
 * <p>Precedence (the same as {@code harness/spark_rules/costs.py}): the SQL conf keys
 * {@code spark.bdbench.udf.cost.<name>} and {@code spark.bdbench.udf.selectivity.<name>} (read
 * at planning time, so they can be changed with {@code spark.conf.set} between queries); else
 * the paper's naming convention, where the last {@code _<number>} of the name is the cost
 * ({@code udfA_99} costs 99); else the Python {@code @costed} declaration
 * ({@code spark.bdbench.udf.declared.*}); else a measured profile
 * ({@code spark.bdbench.udf.measured.*}); else unknown.
 * An unknown cost counts as 1 so that unannotated UDFs keep their written order under a
 * stable sort. Malformed conf values are ignored rather than failing the query: an annotation
 * is only a hint.
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
    /** Prefix of measured profiles (the lowest precedence). */
    public static final String MEASURED_PREFIX = "spark.bdbench.udf.measured.";
    /** Prefix of the per-UDF "constrained" flag (true: the UDF must run once per row). */
    public static final String CONSTRAINED_PREFIX = "spark.bdbench.udf.constrained.";
    /** Cost assumed for a UDF without any annotation. */
    public static final double UNKNOWN_COST = 1.0;

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

    /** Cost of one UDF call by name: conf, else name suffix, else declared, else measured, else {@link #UNKNOWN_COST}. */
    public double costOfName(String name) {
        OptionalDouble fromConf = conf.number(COST_PREFIX + name);
        if (fromConf.isPresent() && fromConf.getAsDouble() >= 0) {
            return fromConf.getAsDouble();
        }
        Matcher m = COST_SUFFIX.matcher(name == null ? "" : name);
        if (m.find()) {
            return Double.parseDouble(m.group(1));
        }
        for (String prefix : new String[] {DECLARED_PREFIX, MEASURED_PREFIX}) {
            OptionalDouble v = conf.number(prefix + "cost." + name);
            if (v.isPresent() && v.getAsDouble() >= 0) {
                return v.getAsDouble();
            }
        }
        return UNKNOWN_COST;
    }

    /**
     * Cost of evaluating a UDF expression: the sum over every Python UDF in it, because a
     * chained call such as {@code f(g(x))} runs both functions per row.
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

    /** Annotated selectivity (fraction of rows passing) of the named UDF, if any and in [0, 1]. */
    public OptionalDouble selectivityOfName(String name) {
        for (String key : new String[] {SELECTIVITY_PREFIX + name,
                DECLARED_PREFIX + "selectivity." + name, MEASURED_PREFIX + "selectivity." + name}) {
            OptionalDouble s = conf.number(key);
            if (s.isPresent() && s.getAsDouble() >= 0 && s.getAsDouble() <= 1) {
                return s;
            }
        }
        return OptionalDouble.empty();
    }

    /**
     * Whether the named UDF is constrained: the conf flag, else the {@code @costed} declaration,
     * else false. A value other than true/false is ignored (falls through to the next source).
     */
    public boolean isConstrained(String name) {
        for (String key : new String[] {CONSTRAINED_PREFIX + name,
                DECLARED_PREFIX + "constrained." + name}) {
            Optional<Boolean> v = conf.bool(key);
            if (v.isPresent()) {
                return v.get();
            }
        }
        return false;
    }

    /** Ordering rank of a filter on {@code udf}'s result: {@link #rank} of its cost and selectivity. */
    public double rankOf(PythonUDF udf) {
        return rank(costOf(udf), selectivityOfName(udf.name()));
    }

    /**
     * Ordering rank of a filter step: cost / (1 - selectivity), the classic rank for ordering
     * independent expensive predicates; cost alone when the selectivity is unknown. A
     * predicate that passes every row removes nothing, so it ranks last.
     */
    public static double rank(double cost, OptionalDouble selectivity) {
        if (selectivity.isEmpty()) {
            return cost;
        }
        double pass = selectivity.getAsDouble();
        if (pass >= 1.0) {
            return Double.POSITIVE_INFINITY;
        }
        return cost / (1.0 - pass);
    }
}
