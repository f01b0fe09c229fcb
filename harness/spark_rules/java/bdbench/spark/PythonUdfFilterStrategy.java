package bdbench.spark;

import java.util.Optional;

import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/**
 * Planner strategy that orders Python UDF filter predicates cheapest-and-most-selective first.
 *
 * <p>Why a planner strategy: Spark's "Extract Python UDFs" optimizer batch runs after every
 * rule injected with {@code injectOptimizerRule} and packs all UDFs of a filter into one eval
 * node, so any reordering done earlier is lost. Planning happens after that batch, so this
 * strategy sees the final logical plan. When a Filter sits on Python eval nodes it has the
 * subtree rewritten (see {@link PythonUdfFilterSplitter}) and planned by the ordinary
 * strategies; plans without this pattern are untouched. The change is visible in
 * {@code executedPlan}, not in {@code optimizedPlan}.
 *
 * <p>Annotations (see {@link UdfCostModel}) and the switches ({@code spark.bdbench.rules.enabled},
 * {@code spark.bdbench.rules.split.enabled}, see {@link RuleSwitches}) are read from the SQL
 * conf at planning time.
 */
public final class PythonUdfFilterStrategy extends RewriteStrategy {

    /** The split chain of a matching Filter; empty for every other node. */
    @Override
    protected Optional<LogicalPlan> rewrite(LogicalPlan plan) {
        if (!(plan instanceof Filter)) {
            return Optional.empty();
        }
        RuleSwitches switches = RuleSwitches.current();
        if (!switches.splitEnabled()) {
            return Optional.empty();
        }
        // The rewritten tree never matches again (its filters are tagged and sit on single-UDF
        // eval nodes), so the planner's recursion ends.
        return new PythonUdfFilterSplitter(UdfCostModel.current(), switches.barrierEnabled())
                .rewrite((Filter) plan);
    }
}
