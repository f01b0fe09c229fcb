package bdbench.spark;

import org.apache.spark.sql.SparkSessionExtensions;

import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Entry point for {@code spark.sql.extensions=bdbench.spark.PaperReorderExtensions}: injects
 * the paper's plain conjunct-reordering rule ({@link PaperConjunctReorderRule}) as an ordinary
 * optimizer rule. This is the negative control: it runs before Python UDF extraction and does
 * not change UDF call counts. Here the rule is on by default; only the master switch
 * {@code spark.bdbench.rules.enabled} (or {@code spark.bdbench.rules.paper.enabled=false})
 * turns it off.
 */
public final class PaperReorderExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {

    /** Public no-argument constructor, required by Spark to instantiate the extension. */
    public PaperReorderExtensions() {
    }

    /** Registers the reorder rule with the session being built. */
    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectOptimizerRule(session -> new PaperConjunctReorderRule(true));
        return BoxedUnit.UNIT;
    }
}
