package bdbench.spark;

import org.apache.spark.sql.internal.SQLConf;

/**
 * The runtime switches of the rules, read from the SQL conf at planning time so that one
 * session can compare rules on and off without a restart: the master
 * {@code spark.bdbench.rules.enabled} and one per rule; a rule acts only when the master switch
 * and its own are on. Python sets the same keys ({@code harness/spark_rules/__init__.py}).
 */
public final class RuleSwitches {

    /** Master switch of every rule (default on). */
    public static final String ENABLED_KEY = "spark.bdbench.rules.enabled";
    /** Switch of the Python UDF filter split (default on). */
    public static final String SPLIT_ENABLED_KEY = "spark.bdbench.rules.split.enabled";
    /** Switch of the constrained-UDF barrier (default on). */
    public static final String BARRIER_ENABLED_KEY = "spark.bdbench.rules.barrier.enabled";
    /** Switch of the paper's conjunct reorder (default depends on the extension that loads it). */
    public static final String PAPER_ENABLED_KEY = "spark.bdbench.rules.paper.enabled";

    private final ConfReader conf;

    /** The switches as set in {@code conf}. */
    public RuleSwitches(SQLConf conf) {
        this.conf = new ConfReader(conf);
    }

    /** The switches of the session that is currently planning or optimizing. */
    public static RuleSwitches current() {
        return new RuleSwitches(SQLConf.get());
    }

    /** Whether the rules act at all: {@code spark.bdbench.rules.enabled} (default true). */
    public boolean rulesEnabled() {
        return flag(ENABLED_KEY, true);
    }

    /** Whether the filter split acts: master switch and {@code spark.bdbench.rules.split.enabled}. */
    public boolean splitEnabled() {
        return rulesEnabled() && flag(SPLIT_ENABLED_KEY, true);
    }

    /** Whether the barrier acts: master switch and {@code spark.bdbench.rules.barrier.enabled}. */
    public boolean barrierEnabled() {
        return rulesEnabled() && flag(BARRIER_ENABLED_KEY, true);
    }

    /**
     * Whether the paper's reorder acts: master switch and {@code spark.bdbench.rules.paper.enabled},
     * which defaults to {@code onByDefault} (on when loaded alone as the paper control, off when
     * loaded beside our own rules).
     */
    public boolean paperEnabled(boolean onByDefault) {
        return rulesEnabled() && flag(PAPER_ENABLED_KEY, onByDefault);
    }

    /** "true"/"false" in any case; anything else, or no value, means {@code dflt}. */
    private boolean flag(String key, boolean dflt) {
        return conf.bool(key).orElse(dflt);
    }
}
