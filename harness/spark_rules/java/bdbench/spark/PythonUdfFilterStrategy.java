package bdbench.spark;

import java.util.List;
import java.util.Optional;

import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.SparkStrategy;

import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Planner strategy that orders Python UDF filter predicates cheapest-and-most-selective first.
 *
 * <p>Why a planner strategy: Spark's "Extract Python UDFs" optimizer batch runs after every
 * rule injected with {@code injectOptimizerRule} and packs all UDFs of a filter into one eval
 * node, so any reordering done earlier is lost. Planning happens after that batch, so this
 * strategy sees the final logical plan. When a Filter sits on Python eval nodes it hands the
 * rewritten logical subtree (see {@link PythonUdfFilterSplitter}) back to the planner with
 * {@code planLater}; the ordinary strategies then plan it. For any other node it returns
 * Nil, so plans without this pattern are untouched. The change is visible in
 * {@code executedPlan}, not in {@code optimizedPlan}.
 *
 * <p>Annotations and the switches ({@code spark.bdbench.rules.enabled},
 * {@code spark.bdbench.rules.split.enabled}) are read from the SQL conf at planning time (see
 * {@link UdfCostModel}).
 */
public final class PythonUdfFilterStrategy extends SparkStrategy {

    private static final Seq<SparkPlan> NIL = CollectionConverters.asScala(List.<SparkPlan>of()).toSeq();

    /** Plans a matching Filter as its split chain; returns Nil for every other node. */
    @Override
    public Seq<SparkPlan> apply(LogicalPlan plan) {
        if (!(plan instanceof Filter)) {
            return NIL;
        }
        UdfCostModel costs = UdfCostModel.current();
        if (!costs.splitEnabled()) {
            return NIL;
        }
        Optional<LogicalPlan> rewritten = PythonUdfFilterSplitter.rewrite((Filter) plan, costs);
        if (rewritten.isEmpty()) {
            return NIL;
        }
        // The rewritten tree never matches this strategy again (tagged, and its filters sit on
        // single-UDF eval nodes), so the planner's recursion ends.
        SparkPlan later = planLater(rewritten.get());
        return CollectionConverters.asScala(List.of(later)).toSeq();
    }
}
