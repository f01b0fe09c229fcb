package bdbench.spark;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.rules.Rule;

/**
 * The paper's plain rule, kept as a negative control: it reorders the conjuncts of each
 * Filter by ascending UDF cost (stable; JVM-only conjuncts cost 0 and go first).
 *
 * <p>Injected with {@code injectOptimizerRule}, it runs before Spark's "Extract Python UDFs"
 * batch, which then evaluates every UDF of the filter in one eval node on every row, so the
 * order of the conjuncts does not change how often any UDF is called. It only reorders when
 * all conjuncts are deterministic, and returns the same node when the order is unchanged, so
 * the optimizer's fixed point is reached at once.
 *
 * <p>Switches: the master {@code spark.bdbench.rules.enabled} and
 * {@code spark.bdbench.rules.paper.enabled}, whose default is given by the extension that
 * loads the rule (on in {@code PaperReorderExtensions}, off in {@code BdbenchExtensions}).
 */
public final class PaperConjunctReorderRule extends Rule<LogicalPlan> {

    private final boolean onByDefault;

    /** The rule as loaded alone for the paper control: on unless a switch turns it off. */
    public PaperConjunctReorderRule() {
        this(true);
    }

    /**
     * The rule with its default state.
     *
     * @param onByDefault whether the rule acts when {@code spark.bdbench.rules.paper.enabled}
     *                    is not set
     */
    public PaperConjunctReorderRule(boolean onByDefault) {
        this.onByDefault = onByDefault;
    }

    /** Reorders the conjuncts of every Filter in {@code plan} by annotated cost. */
    @Override
    public LogicalPlan apply(LogicalPlan plan) {
        if (!RuleSwitches.current().paperEnabled(onByDefault)) {
            return plan;
        }
        UdfCostModel costs = UdfCostModel.current();
        return Plans.transformFiltersUp(plan, filter -> true, filter -> reorder(filter, costs));
    }

    private static LogicalPlan reorder(Filter filter, UdfCostModel costs) {
        List<Expression> conjuncts = Predicates.splitConjuncts(filter.condition());
        // Moving a non-deterministic predicate could change results.
        if (conjuncts.size() < 2 || !Predicates.allDeterministic(conjuncts)) {
            return filter;
        }
        List<Expression> sorted = new ArrayList<>(conjuncts);
        sorted.sort(Comparator.comparingDouble(costs::costOfPredicate));   // List.sort is stable
        if (sorted.equals(conjuncts)) {
            return filter;
        }
        return new Filter(Predicates.conjunction(sorted), filter.child());
    }
}
