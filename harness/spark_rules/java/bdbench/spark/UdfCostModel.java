package bdbench.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.internal.SQLConf;

import scala.jdk.javaapi.CollectionConverters;

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
 * <p>A UDF is <em>constrained</em> (must run once per row, see
 * {@link ConstrainedUdfBarrierStrategy}) when {@code spark.bdbench.udf.constrained.<name>} is
 * {@code true}, else when the Python {@code @costed(constrained=True)} declaration says so
 * ({@code spark.bdbench.udf.declared.constrained.<name>}); a conf {@code false} beats a
 * declared {@code true}.
 *
 * <p>It also reads the runtime switches: the master {@code spark.bdbench.rules.enabled} and
 * one per rule ({@code spark.bdbench.rules.split.enabled}, {@code .barrier.enabled},
 * {@code .paper.enabled}); a rule acts only when the master switch and its own are on.
 */
public final class UdfCostModel {

    /** Prefix of the per-UDF cost conf key; the UDF name follows. */
    public static final String COST_PREFIX = "spark.bdbench.udf.cost.";
    /** Prefix of the per-UDF selectivity conf key (fraction of rows that pass, 0..1). */
    public static final String SELECTIVITY_PREFIX = "spark.bdbench.udf.selectivity.";
    /** Prefixes of the {@code @costed} declarations and of measured profiles (lower precedence). */
    public static final String DECLARED_PREFIX = "spark.bdbench.udf.declared.";
    public static final String MEASURED_PREFIX = "spark.bdbench.udf.measured.";
    /** Prefix of the per-UDF "constrained" flag (true: the UDF must run once per row). */
    public static final String CONSTRAINED_PREFIX = "spark.bdbench.udf.constrained.";
    /** Runtime switch (one session can compare rules on and off without a restart). */
    public static final String ENABLED_KEY = "spark.bdbench.rules.enabled";
    /** Switch of the Python UDF filter split (default on). */
    public static final String SPLIT_ENABLED_KEY = "spark.bdbench.rules.split.enabled";
    /** Switch of the constrained-UDF barrier (default on). */
    public static final String BARRIER_ENABLED_KEY = "spark.bdbench.rules.barrier.enabled";
    /** Switch of the paper's conjunct reorder (default depends on the extension that loads it). */
    public static final String PAPER_ENABLED_KEY = "spark.bdbench.rules.paper.enabled";
    /** Cost assumed for a UDF without any annotation. */
    public static final double UNKNOWN_COST = 1.0;

    /** The paper's convention: a trailing "_<number>" is the cost. */
    private static final Pattern COST_SUFFIX = Pattern.compile("_(\\d+(?:\\.\\d+)?)$");

    private final SQLConf conf;

    /** A cost model reading annotations from {@code conf} (use {@link SQLConf#get()} at planning time). */
    public UdfCostModel(SQLConf conf) {
        this.conf = conf;
    }

    /** A cost model over the SQL conf of the session that is currently planning or optimizing. */
    public static UdfCostModel current() {
        return new UdfCostModel(SQLConf.get());
    }

    /** Cost of one UDF call by name: conf, else name suffix, else {@link #UNKNOWN_COST}. */
    public double costOfName(String name) {
        OptionalDouble fromConf = confDouble(COST_PREFIX + name);
        if (fromConf.isPresent() && fromConf.getAsDouble() >= 0) {
            return fromConf.getAsDouble();
        }
        Matcher m = COST_SUFFIX.matcher(name == null ? "" : name);
        if (m.find()) {
            return Double.parseDouble(m.group(1));
        }
        for (String prefix : new String[] {DECLARED_PREFIX, MEASURED_PREFIX}) {
            OptionalDouble v = confDouble(prefix + "cost." + name);
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
        double total = 0;
        for (PythonUDF u : pythonUdfsIn(udf)) {
            total += costOfName(u.name());
        }
        return total;
    }

    /**
     * Cost of a predicate: the sum of the costs of the Python UDFs it calls; a predicate with
     * no Python UDF costs 0 (JVM expressions are orders of magnitude cheaper).
     */
    public double costOfPredicate(Expression predicate) {
        double total = 0;
        for (PythonUDF u : pythonUdfsIn(predicate)) {
            total += costOfName(u.name());
        }
        return total;
    }

    /** Annotated selectivity (fraction of rows passing) of the named UDF, if any and in [0, 1]. */
    public OptionalDouble selectivityOfName(String name) {
        for (String key : new String[] {SELECTIVITY_PREFIX + name,
                DECLARED_PREFIX + "selectivity." + name, MEASURED_PREFIX + "selectivity." + name}) {
            OptionalDouble s = confDouble(key);
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
            Optional<Boolean> v = confBoolean(key);
            if (v.isPresent()) {
                return v.get();
            }
        }
        return false;
    }

    /** Whether the rules act at all: {@code spark.bdbench.rules.enabled} (default true). */
    public boolean rulesEnabled() {
        return flag(ENABLED_KEY, true);
    }

    /** Whether the filter split acts: master switch and {@code spark.bdbench.rules.split.enabled}. */
    public boolean splitEnabled() {
        return rulesEnabled() && flag(SPLIT_ENABLED_KEY, true);
    }

    /** Whether the barrier acts: master switch and {@code spark.bdbench.rules.barrier.enabled}. */
    public boolean barrierEnabled() {
        return rulesEnabled() && flag(BARRIER_ENABLED_KEY, true);
    }

    /**
     * Whether the paper's reorder acts: master switch and {@code spark.bdbench.rules.paper.enabled},
     * which defaults to {@code onByDefault} (on when loaded alone as the paper control, off when
     * loaded beside our own rules).
     */
    public boolean paperEnabled(boolean onByDefault) {
        return rulesEnabled() && flag(PAPER_ENABLED_KEY, onByDefault);
    }

    /** A boolean switch: "true"/"false" (any case), anything else means {@code dflt}. */
    private boolean flag(String key, boolean dflt) {
        return confBoolean(key).orElse(dflt);
    }

    private Optional<Boolean> confBoolean(String key) {
        String raw = conf.getConfString(key, null);
        String v = raw == null ? "" : raw.trim();
        if (v.equalsIgnoreCase("true")) {
            return Optional.of(true);
        }
        if (v.equalsIgnoreCase("false")) {
            return Optional.of(false);
        }
        return Optional.empty();
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

    /** All Python UDF calls inside an expression, outermost first. */
    public static List<PythonUDF> pythonUdfsIn(Expression e) {
        List<PythonUDF> out = new ArrayList<>();
        collect(e, out);
        return out;
    }

    private static void collect(Expression e, List<PythonUDF> out) {
        if (e instanceof PythonUDF) {
            out.add((PythonUDF) e);
        }
        for (Expression child : CollectionConverters.asJava(e.children())) {
            collect(child, out);
        }
    }

    private OptionalDouble confDouble(String key) {
        String raw = conf.getConfString(key, null);
        if (raw == null || raw.isBlank()) {
            return OptionalDouble.empty();
        }
        try {
            double v = Double.parseDouble(raw.trim());
            return Double.isNaN(v) ? OptionalDouble.empty() : OptionalDouble.of(v);
        } catch (NumberFormatException ex) {
            return OptionalDouble.empty();
        }
    }
}
