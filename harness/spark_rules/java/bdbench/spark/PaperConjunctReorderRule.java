package bdbench.spark;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.rules.Rule;

import scala.Function1;
import scala.runtime.AbstractPartialFunction;

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
 * loads the rule (on in {@link PaperReorderExtensions}, off in {@link BdbenchExtensions}).
 */
public final class PaperConjunctReorderRule extends Rule<LogicalPlan> {

    private final boolean onByDefault;

    /** The rule as loaded alone for the paper control: on unless a switch turns it off. */
    public PaperConjunctReorderRule() {
        this(true);
    }

    /**
     * @param onByDefault whether the rule acts when {@code spark.bdbench.rules.paper.enabled}
     *                    is not set
     */
    public PaperConjunctReorderRule(boolean onByDefault) {
        this.onByDefault = onByDefault;
    }

    /** Reorders the conjuncts of every Filter in {@code plan} by annotated cost. */
    @Override
    public LogicalPlan apply(LogicalPlan plan) {
        final UdfCostModel costs = UdfCostModel.current();
        if (!costs.paperEnabled(onByDefault)) {
            return plan;
        }
        return plan.transformUp(new AbstractPartialFunction<LogicalPlan, LogicalPlan>() {
            @Override
            public boolean isDefinedAt(LogicalPlan p) {
                return p instanceof Filter;
            }

            @Override
            public <A1 extends LogicalPlan, B1> B1 applyOrElse(A1 p, Function1<A1, B1> otherwise) {
                if (!(p instanceof Filter)) {
                    return otherwise.apply(p);
                }
                @SuppressWarnings("unchecked")
                B1 result = (B1) reorder((Filter) p, costs);
                return result;
            }
        });
    }

    private static LogicalPlan reorder(Filter filter, UdfCostModel costs) {
        List<Expression> conjuncts = PythonUdfFilterSplitter.splitConjuncts(filter.condition());
        if (conjuncts.size() < 2) {
            return filter;
        }
        for (Expression c : conjuncts) {
            if (!c.deterministic()) {
                return filter;   // moving non-deterministic predicates could change results
            }
        }
        List<Expression> sorted = new ArrayList<>(conjuncts);
        sorted.sort(Comparator.comparingDouble(costs::costOfPredicate));   // List.sort is stable
        if (sorted.equals(conjuncts)) {
            return filter;
        }
        return new Filter(PythonUdfFilterSplitter.conjunction(sorted), filter.child());
    }
}
