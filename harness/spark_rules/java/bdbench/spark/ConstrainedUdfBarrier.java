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
import org.apache.spark.sql.catalyst.expressions.NamedExpression$;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.types.Metadata;

/**
 * The logical rewrite behind the paper's AddBarrierForConstrainedActivity for Python map UDFs:
 * a <em>constrained</em> UDF (see {@link UdfCostModel#isConstrained}) is computed once per row
 * and its result fed to the UDFs that consume it.
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
 * Non-deterministic UDFs are never merged (two calls may differ by design). The barrier
 * costs an eval node ({@link UdfCostModel#nodeCost}): for a constrained UDF with a cost
 * annotation it acts only when the repeated calls cost more than that node; without one, always.
 */
public final class ConstrainedUdfBarrier {

    private ConstrainedUdfBarrier() {
    }

    /**
     * The barrier chain for {@code eval}, or empty when it is not an eval node or computes no
     * constrained, deterministic UDF call more than once.
     */
    public static Optional<LogicalPlan> rewrite(LogicalPlan eval, UdfCostModel costs) {
        if (!PythonEvalNodes.isEvalNode(eval)) {
            return Optional.empty();
        }
        Map<Expression, UdfCalls.Call> calls = UdfCalls.count(PythonEvalNodes.udfsOf(eval));
        Map<Expression, Attribute> barrier = barrierAttrs(eval, calls, costs);
        if (barrier.isEmpty()) {
            return Optional.empty();
        }
        LogicalPlan current = addBarrierLayers(eval, calls, barrier);
        current = addConsumers(eval, barrier, current);
        return Optional.of(Plans.restoreOutput(current, eval));
    }

    /**
     * The attribute each repeated constrained call is materialised into: the node's own result
     * attribute when the call is also one of its top-level UDFs, else a fresh one.
     */
    private static Map<Expression, Attribute> barrierAttrs(LogicalPlan eval,
                                                           Map<Expression, UdfCalls.Call> calls,
                                                           UdfCostModel costs) {
        List<Attribute> attrs = PythonEvalNodes.resultAttrsOf(eval);
        Map<Expression, Attribute> barrier = new LinkedHashMap<>();
        double rows = UdfCalls.rowsPerWorker(PythonEvalNodes.udfsOf(eval), costs,
                eval.children().head());
        for (Map.Entry<Expression, UdfCalls.Call> e : calls.entrySet()) {
            UdfCalls.Call c = e.getValue();
            if (c.repeatedConstrained(costs, rows)) {
                barrier.put(e.getKey(), c.topIndex >= 0 ? attrs.get(c.topIndex) : freshAttr(c.udf));
            }
        }
        return barrier;
    }

    /**
     * One eval node per layer over {@code eval}'s child, where layer k holds the barrier calls
     * with k barrier calls nested (transitively) below them: a call needs its inner barrier
     * results computed by a node underneath.
     */
    private static LogicalPlan addBarrierLayers(LogicalPlan eval, Map<Expression, UdfCalls.Call> calls,
                                                Map<Expression, Attribute> barrier) {
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
            current = PythonEvalNodes.newEvalNode(eval, nodeUdfs, nodeAttrs, current);
        }
        return current;
    }

    /** The node's other UDFs, reading the barrier results, in one eval node on top. */
    private static LogicalPlan addConsumers(LogicalPlan eval, Map<Expression, Attribute> barrier,
                                            LogicalPlan current) {
        List<PythonUDF> udfs = PythonEvalNodes.udfsOf(eval);
        List<Attribute> attrs = PythonEvalNodes.resultAttrsOf(eval);
        List<PythonUDF> rest = new ArrayList<>();
        List<Attribute> restAttrs = new ArrayList<>();
        for (int i = 0; i < udfs.size(); i++) {
            if (!barrier.containsKey(udfs.get(i).canonicalized())) {
                rest.add((PythonUDF) replaceInner(udfs.get(i), true, barrier));
                restAttrs.add(attrs.get(i));
            }
        }
        return rest.isEmpty() ? current : PythonEvalNodes.newEvalNode(eval, rest, restAttrs, current);
    }

    /**
     * The layer of the deepest barrier call in {@code e} (-1 when none): a barrier call sits one
     * layer above the barrier calls nested in it. Records each barrier call's layer.
     */
    private static int layer(Expression e, Map<Expression, Attribute> barrier,
                             Map<Expression, Integer> layerOf) {
        int below = -1;
        for (Expression child : ScalaSeqs.toList(e.children())) {
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
        for (Expression child : ScalaSeqs.toList(e.children())) {
            children.add(replaceInner(child, false, barrier));
        }
        return children.isEmpty() ? e : e.withNewChildren(ScalaSeqs.toSeq(children));
    }

    /** A new attribute for a barrier call that is only nested, so the node has none for it. */
    private static Attribute freshAttr(PythonUDF udf) {
        return new AttributeReference("pythonUDF_barrier", udf.dataType(), true, Metadata.empty(),
                NamedExpression$.MODULE$.newExprId(), ScalaSeqs.toSeq(List.<String>of()));
    }
}
