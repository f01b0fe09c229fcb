package bdbench.spark;

import java.util.Optional;
import java.util.OptionalDouble;

import org.apache.spark.sql.internal.SQLConf;

/**
 * Typed reads of SQL conf values. The rule switches read leniently (a malformed switch keeps its
 * default); annotations read strictly ({@link #strictNumber}, {@link #strictBool}): a planner
 * that silently dropped a mistyped cost would plan on numbers nobody set.
 */
final class ConfReader {

    private final SQLConf conf;

    /** Reads from {@code conf} at each call, so {@code spark.conf.set} between queries counts. */
    ConfReader(SQLConf conf) {
        this.conf = conf;
    }

    /** "true" or "false" in any case (surrounding blanks ignored); anything else is absent. */
    Optional<Boolean> bool(String key) {
        String raw = conf.getConfString(key, null);
        String v = raw == null ? "" : raw.trim();
        if (v.equalsIgnoreCase("true")) {
            return Optional.of(true);
        }
        if (v.equalsIgnoreCase("false")) {
            return Optional.of(false);
        }
        return Optional.empty();
    }

    /**
     * A number (surrounding blanks ignored), absent when the key is unset or blank.
     *
     * @param what what the value is for, named in the error
     * @throws IllegalArgumentException naming the key when the value is not a finite number
     */
    OptionalDouble strictNumber(String key, String what) {
        String raw = conf.getConfString(key, null);
        if (raw == null || raw.isBlank()) {
            return OptionalDouble.empty();
        }
        double v;
        try {
            v = Double.parseDouble(raw.trim());
        } catch (NumberFormatException ex) {
            v = Double.NaN;
        }
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(String.format(
                    "bdbench rules: %s: %s = '%s' is not a number", what, key, raw));
        }
        return OptionalDouble.of(v);
    }

    /**
     * "true" or "false" in any case (blanks ignored), absent when unset or blank.
     *
     * @throws IllegalArgumentException naming the key for any other value
     */
    Optional<Boolean> strictBool(String key, String what) {
        String raw = conf.getConfString(key, null);
        if (raw == null || raw.isBlank()) {
            return Optional.empty();
        }
        Optional<Boolean> v = bool(key);
        if (v.isEmpty()) {
            throw new IllegalArgumentException(String.format(
                    "bdbench rules: %s: %s = '%s' is not true or false", what, key, raw));
        }
        return v;
    }
}
