package bdbench.spark;

import java.util.Optional;

import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.rules.Rule;

import scala.Function1;
import scala.runtime.AbstractPartialFunction;

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
        final UdfCostModel costs = UdfCostModel.current();
        if (!costs.splitEnabled()) {
            return plan;
        }
        return plan.transformUp(new AbstractPartialFunction<LogicalPlan, LogicalPlan>() {
            @Override
            public boolean isDefinedAt(LogicalPlan p) {
                return p instanceof Filter && PythonUdfFilterSplitter.isEvalNode(((Filter) p).child());
            }

            @Override
            public <A1 extends LogicalPlan, B1> B1 applyOrElse(A1 p, Function1<A1, B1> otherwise) {
                if (!isDefinedAt(p)) {
                    return otherwise.apply(p);
                }
                Optional<LogicalPlan> rewritten = PythonUdfFilterSplitter.rewrite((Filter) p, costs);
                @SuppressWarnings("unchecked")
                B1 result = (B1) rewritten.orElse(p);
                return result;
            }
        });
    }
}
