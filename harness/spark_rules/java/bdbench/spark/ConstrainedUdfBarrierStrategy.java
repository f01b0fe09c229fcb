package bdbench.spark;

import java.util.Optional;

import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/**
 * Planner strategy applying {@link ConstrainedUdfBarrier} to eval nodes, so that a constrained
 * Python map UDF runs once per row. It acts when {@code spark.bdbench.rules.enabled} and
 * {@code spark.bdbench.rules.barrier.enabled} are on (read at planning time); for any other
 * node, or when nothing is constrained, Spark plans as usual.
 */
public final class ConstrainedUdfBarrierStrategy extends RewriteStrategy {

    /** The barrier chain of an eval node with a repeated constrained UDF; else empty. */
    @Override
    protected Optional<LogicalPlan> rewrite(LogicalPlan plan) {
        if (!PythonEvalNodes.isEvalNode(plan) || !RuleSwitches.current().barrierEnabled()) {
            return Optional.empty();
        }
        // No node of the rewritten tree computes a constrained call twice: no second match.
        return ConstrainedUdfBarrier.rewrite(plan, UdfCostModel.current());
    }
}
