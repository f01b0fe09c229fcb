package bdbench.spark;

import org.apache.spark.sql.SparkSessionExtensions;

import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Entry point for {@code spark.sql.extensions=bdbench.spark.BdbenchExtensions}: injects
 * {@link PythonUdfFilterStrategy} (cheap, selective Python UDF filters run before expensive
 * ones), {@link ConstrainedUdfBarrierStrategy} (a constrained map UDF runs once per row) and
 * the paper's {@link PaperConjunctReorderRule}, which is off here unless
 * {@code spark.bdbench.rules.paper.enabled=true}: with the split switched off
 * ({@code spark.bdbench.rules.split.enabled=false}) one session can then emulate the paper
 * control. {@code spark.sql.extensions} is a static conf: set it on the builder before the
 * first session of the JVM is created.
 */
public final class BdbenchExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {

    /** Public no-argument constructor, required by Spark to instantiate the extension. */
    public BdbenchExtensions() {
    }

    /** Registers the planner strategies and the (default off) paper rule with the session. */
    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectPlannerStrategy(session -> new PythonUdfFilterStrategy());
        extensions.injectPlannerStrategy(session -> new ConstrainedUdfBarrierStrategy());
        extensions.injectOptimizerRule(session -> new PaperConjunctReorderRule(false));
        return BoxedUnit.UNIT;
    }
}
