package bdbench.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Predicate;

import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Project;

import scala.Function1;
import scala.runtime.AbstractPartialFunction;

/** Logical-plan utilities shared by the rewrites and the optimizer rules. */
public final class Plans {

    private Plans() {
    }

    /**
     * {@code rewritten}, under a Project restoring {@code original}'s output when the rewrite
     * emits it in another order or with extra columns: parents, and the references they have
     * already bound, must see exactly the same schema.
     */
    public static LogicalPlan restoreOutput(LogicalPlan rewritten, LogicalPlan original) {
        if (rewritten.output().equals(original.output())) {
            return rewritten;
        }
        List<NamedExpression> projectList = new ArrayList<>(ScalaSeqs.toList(original.output()));
        return new Project(ScalaSeqs.toSeq(projectList), rewritten);
    }

    /**
     * {@code plan} transformed bottom-up: each Filter accepted by {@code matches} is replaced by
     * {@code rewrite}'s result (returning the Filter itself means no change).
     */
    public static LogicalPlan transformFiltersUp(LogicalPlan plan, Predicate<Filter> matches,
                                                 Function<Filter, LogicalPlan> rewrite) {
        return plan.transformUp(new AbstractPartialFunction<LogicalPlan, LogicalPlan>() {
            @Override
            public boolean isDefinedAt(LogicalPlan p) {
                return p instanceof Filter && matches.test((Filter) p);
            }

            @Override
            public <A1 extends LogicalPlan, B1> B1 applyOrElse(A1 p, Function1<A1, B1> otherwise) {
                if (!isDefinedAt(p)) {
                    return otherwise.apply(p);
                }
                @SuppressWarnings("unchecked")
                B1 result = (B1) rewrite.apply((Filter) p);
                return result;
            }
        });
    }
}
