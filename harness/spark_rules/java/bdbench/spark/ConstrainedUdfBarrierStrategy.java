package bdbench.spark;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.expressions.NamedExpression$;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.catalyst.plans.logical.ArrowEvalPython;
import org.apache.spark.sql.catalyst.plans.logical.BatchEvalPython;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Project;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.SparkStrategy;
import org.apache.spark.sql.types.Metadata;

import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The paper's AddBarrierForConstrainedActivity for Python map UDFs: a <em>constrained</em> UDF
 * (see {@link UdfCostModel#isConstrained}) is computed once per row and its result fed to the
 * UDFs that consume it.
 *
 * <p>Why it is needed: for {@code withColumn("a", f(x)).withColumn("b", g(a))} Spark collapses
 * the projections into {@code [f(x) AS a, g(f(x)) AS b]}, and "Extract Python UDFs" chains a
 * UDF whose only argument is another UDF of the same eval type, so one eval node computes
 * {@code [f(x), g(f(x))]}. The Python worker evaluates the chain {@code g(f(x))} by calling f
 * again: f runs twice per row. For an expensive or side-effecting ("constrained") f that is
 * the wrong plan.
 *
 * <p>Rewrite, for an eval node computing a constrained, deterministic UDF call more than once
 * (alone and nested, or nested twice):
 * <pre>  EvalPython([f(x), g(f(x))], [r0, r1], child)</pre>
 * becomes a materialisation point between two eval nodes:
 * <pre>  EvalPython([g(r0)], [r1], EvalPython([f(x)], [r0], child))</pre>
 * Each new node keeps the class and eval type of the original; result attributes keep their
 * expression ids, so the parent resolves unchanged (a Project restores the original output
 * when the order or set of columns differs). Nested constrained calls are layered bottom-up.
 * Non-deterministic UDFs are never merged (two calls may differ by design).
 *
 * <p>Why a planner strategy: the eval nodes only exist after the "Extract Python UDFs" batch,
 * after every {@code injectOptimizerRule} rule; planning sees them. For any other node, or
 * when nothing is constrained, it returns Nil and Spark plans as usual. Switches (read at
 * planning time): {@code spark.bdbench.rules.enabled} and
 * {@code spark.bdbench.rules.barrier.enabled}.
 */
public final class ConstrainedUdfBarrierStrategy extends SparkStrategy {

    private static final Seq<SparkPlan> NIL = CollectionConverters.asScala(List.<SparkPlan>of()).toSeq();

    /** Plans an eval node with a repeated constrained UDF as a barrier chain; else Nil. */
    @Override
    public Seq<SparkPlan> apply(LogicalPlan plan) {
        if (!PythonUdfFilterSplitter.isEvalNode(plan)) {
            return NIL;
        }
        UdfCostModel costs = UdfCostModel.current();
        if (!costs.barrierEnabled()) {
            return NIL;
        }
        Optional<LogicalPlan> rewritten = rewrite(plan, costs);
        if (rewritten.isEmpty()) {
            return NIL;
        }
        // No node of the rewritten tree computes a constrained call twice: no second match.
        return CollectionConverters.asScala(List.of(planLater(rewritten.get()))).toSeq();
    }

    /** One distinct (canonical) Python UDF call inside an eval node. */
    private static final class Call {
        final PythonUDF udf;
        int count;
        int topIndex = -1;   // position among the node's UDFs, -1 when only nested

        Call(PythonUDF udf) {
            this.udf = udf;
        }
    }

    /**
     * The barrier chain for {@code eval}, or empty when it is not an eval node or computes no
     * constrained, deterministic UDF call more than once.
     */
    public static Optional<LogicalPlan> rewrite(LogicalPlan eval, UdfCostModel costs) {
        if (!PythonUdfFilterSplitter.isEvalNode(eval)) {
            return Optional.empty();
        }
        List<PythonUDF> udfs = CollectionConverters.asJava(udfsOf(eval));
        List<Attribute> attrs = CollectionConverters.asJava(resultAttrsOf(eval));

        Map<Expression, Call> calls = countCalls(udfs);
        Map<Expression, Attribute> barrier = new LinkedHashMap<>();
        for (Map.Entry<Expression, Call> e : calls.entrySet()) {
            Call c = e.getValue();
            if (repeatedConstrained(c, costs)) {
                barrier.put(e.getKey(), c.topIndex >= 0 ? attrs.get(c.topIndex) : freshAttr(c.udf));
            }
        }
        if (barrier.isEmpty()) {
            return Optional.empty();
        }

        // Layer k holds the barrier calls with k barrier calls nested (transitively) below them.
        Map<Expression, Integer> layerOf = new HashMap<>();
        int layers = 0;
        for (Expression key : barrier.keySet()) {
            layers = Math.max(layers, layer(calls.get(key).udf, barrier, layerOf) + 1);
        }
        LogicalPlan current = eval.children().head();
        for (int k = 0; k < layers; k++) {
            List<PythonUDF> nodeUdfs = new ArrayList<>();
            List<Attribute> nodeAttrs = new ArrayList<>();
            for (Map.Entry<Expression, Attribute> e : barrier.entrySet()) {
                if (layerOf.get(e.getKey()) == k) {
                    nodeUdfs.add((PythonUDF) replaceInner(calls.get(e.getKey()).udf, true, barrier));
                    nodeAttrs.add(e.getValue());
                }
            }
            current = newEvalNode(eval, nodeUdfs, nodeAttrs, current);
        }
        List<PythonUDF> rest = new ArrayList<>();
        List<Attribute> restAttrs = new ArrayList<>();
        for (int i = 0; i < udfs.size(); i++) {
            if (!barrier.containsKey(udfs.get(i).canonicalized())) {
                rest.add((PythonUDF) replaceInner(udfs.get(i), true, barrier));
                restAttrs.add(attrs.get(i));
            }
        }
        if (!rest.isEmpty()) {
            current = newEvalNode(eval, rest, restAttrs, current);
        }
        if (!current.output().equals(eval.output())) {
            List<NamedExpression> projectList = new ArrayList<>(CollectionConverters.asJava(eval.output()));
            current = new Project(CollectionConverters.asScala(projectList).toSeq(), current);
        }
        return Optional.of(current);
    }

    /**
     * True when {@code udfs}, evaluated together, would call a constrained, deterministic UDF
     * more than once per row. The filter split leaves such nodes to this barrier.
     */
    public static boolean repeatsConstrainedCall(List<PythonUDF> udfs, UdfCostModel costs) {
        for (Call c : countCalls(udfs).values()) {
            if (repeatedConstrained(c, costs)) {
                return true;
            }
        }
        return false;
    }

    private static boolean repeatedConstrained(Call c, UdfCostModel costs) {
        return c.count > 1 && c.udf.deterministic() && costs.isConstrained(c.udf.name());
    }

    /** Every distinct call in {@code udfs} (pre-order of discovery) with how often it runs. */
    private static Map<Expression, Call> countCalls(List<PythonUDF> udfs) {
        Map<Expression, Call> calls = new LinkedHashMap<>();
        for (int i = 0; i < udfs.size(); i++) {
            count(udfs.get(i), calls);
            calls.get(udfs.get(i).canonicalized()).topIndex = i;
        }
        return calls;
    }

    private static void count(Expression e, Map<Expression, Call> calls) {
        if (e instanceof PythonUDF) {
            calls.computeIfAbsent(e.canonicalized(), k -> new Call((PythonUDF) e)).count++;
        }
        for (Expression child : CollectionConverters.asJava(e.children())) {
            count(child, calls);
        }
    }

    /**
     * The layer of the deepest barrier call in {@code e} (-1 when none): a barrier call sits one
     * layer above the barrier calls nested in it. Records each barrier call's layer.
     */
    private static int layer(Expression e, Map<Expression, Attribute> barrier,
                             Map<Expression, Integer> layerOf) {
        int below = -1;
        for (Expression child : CollectionConverters.asJava(e.children())) {
            below = Math.max(below, layer(child, barrier, layerOf));
        }
        if (e instanceof PythonUDF && barrier.containsKey(e.canonicalized())) {
            layerOf.put(e.canonicalized(), below + 1);
            return below + 1;
        }
        return below;
    }

    /** {@code e} with every barrier call strictly inside it replaced by that call's attribute. */
    private static Expression replaceInner(Expression e, boolean root, Map<Expression, Attribute> barrier) {
        if (!root && e instanceof PythonUDF) {
            Attribute a = barrier.get(e.canonicalized());
            if (a != null) {
                return a;
            }
        }
        List<Expression> children = new ArrayList<>();
        for (Expression child : CollectionConverters.asJava(e.children())) {
            children.add(replaceInner(child, false, barrier));
        }
        return children.isEmpty() ? e : e.withNewChildren(CollectionConverters.asScala(children).toSeq());
    }

    private static Attribute freshAttr(PythonUDF udf) {
        return new AttributeReference("pythonUDF_barrier", udf.dataType(), true, Metadata.empty(),
                NamedExpression$.MODULE$.newExprId(),
                CollectionConverters.asScala(List.<String>of()).toSeq());
    }

    private static Seq<PythonUDF> udfsOf(LogicalPlan eval) {
        return eval instanceof ArrowEvalPython
                ? ((ArrowEvalPython) eval).udfs()
                : ((BatchEvalPython) eval).udfs();
    }

    private static Seq<Attribute> resultAttrsOf(LogicalPlan eval) {
        return eval instanceof ArrowEvalPython
                ? ((ArrowEvalPython) eval).resultAttrs()
                : ((BatchEvalPython) eval).resultAttrs();
    }

    /** A new eval node of the class and eval type of {@code origin}. */
    private static LogicalPlan newEvalNode(LogicalPlan origin, List<PythonUDF> udfs,
                                           List<Attribute> attrs, LogicalPlan child) {
        Seq<PythonUDF> udfSeq = CollectionConverters.asScala(udfs).toSeq();
        Seq<Attribute> attrSeq = CollectionConverters.asScala(attrs).toSeq();
        if (origin instanceof ArrowEvalPython) {
            return new ArrowEvalPython(udfSeq, attrSeq, child, ((ArrowEvalPython) origin).evalType());
        }
        return new BatchEvalPython(udfSeq, attrSeq, child);
    }
}
