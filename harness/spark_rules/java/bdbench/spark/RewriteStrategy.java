package bdbench.spark;

import java.util.List;
import java.util.Optional;

import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.SparkStrategy;

import scala.collection.immutable.Seq;

/**
 * A planner strategy that plans a node by handing a rewritten logical subtree back to the
 * planner ({@code planLater}), so that the ordinary strategies plan the rewrite. The eval
 * nodes it rewrites exist only after the "Extract Python UDFs" batch, which runs after every
 * {@code injectOptimizerRule} rule; planning is the first point that sees them.
 */
abstract class RewriteStrategy extends SparkStrategy {

    private static final Seq<SparkPlan> NIL = ScalaSeqs.toSeq(List.<SparkPlan>of());

    /** Plans {@code plan} as its rewrite; Nil (Spark plans it as usual) when there is none. */
    @Override
    public final Seq<SparkPlan> apply(LogicalPlan plan) {
        Optional<LogicalPlan> rewritten = rewrite(plan);
        if (rewritten.isEmpty()) {
            return NIL;
        }
        return ScalaSeqs.toSeq(List.of(planLater(rewritten.get())));
    }

    /**
     * The logical subtree to plan instead of {@code plan}, or empty. A rewrite must never match
     * its own output again, or the planner's recursion would not end.
     */
    protected abstract Optional<LogicalPlan> rewrite(LogicalPlan plan);
}
