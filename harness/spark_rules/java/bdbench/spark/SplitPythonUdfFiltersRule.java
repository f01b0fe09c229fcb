package bdbench.spark;

import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.rules.Rule;

/**
 * The same split as {@link PythonUdfFilterStrategy}, packaged as a logical rule for
 * {@code spark.experimental.extraOptimizations}: that batch runs after "Extract Python UDFs",
 * so unlike an {@code injectOptimizerRule} rule it sees the eval nodes. With this rule the
 * change is visible in {@code optimizedPlan}. Idempotent: its output never matches again.
 */
public final class SplitPythonUdfFiltersRule extends Rule<LogicalPlan> {

    /** Rewrites every Filter over Python eval nodes whose UDFs can be ordered. */
    @Override
    public LogicalPlan apply(LogicalPlan plan) {
        RuleSwitches switches = RuleSwitches.current();
        if (!switches.splitEnabled()) {
            return plan;
        }
        PythonUdfFilterSplitter splitter =
                new PythonUdfFilterSplitter(UdfCostModel.current(), switches.barrierEnabled());
        return Plans.transformFiltersUp(plan,
                filter -> PythonEvalNodes.isEvalNode(filter.child()),
                filter -> splitter.rewrite(filter).orElse(filter));
    }
}
