package bdbench.spark;

import org.apache.spark.sql.SparkSessionExtensions;

import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Entry point for {@code spark.sql.extensions=bdbench.spark.BdbenchExtensions}: injects
 * {@link PythonUdfFilterStrategy}, which makes cheap, selective Python UDF filters run before
 * expensive ones. {@code spark.sql.extensions} is a static conf: set it on the builder before
 * the first session of the JVM is created.
 */
public final class BdbenchExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {

    /** Public no-argument constructor, required by Spark to instantiate the extension. */
    public BdbenchExtensions() {
    }

    /** Registers the planner strategy with the session being built. */
    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectPlannerStrategy(session -> new PythonUdfFilterStrategy());
        return BoxedUnit.UNIT;
    }
}
