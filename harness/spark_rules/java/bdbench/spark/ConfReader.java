package bdbench.spark;

import java.util.Optional;
import java.util.OptionalDouble;

import org.apache.spark.sql.internal.SQLConf;

/**
 * Lenient typed reads of SQL conf values. Annotations and switches are hints set by hand, so a
 * malformed value reads as absent rather than failing the query being planned.
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

    /** A number (surrounding blanks ignored); blank, unparsable and NaN are absent. */
    OptionalDouble number(String key) {
        String raw = conf.getConfString(key, null);
        if (raw == null || raw.isBlank()) {
            return OptionalDouble.empty();
        }
        try {
            double v = Double.parseDouble(raw.trim());
            return Double.isNaN(v) ? OptionalDouble.empty() : OptionalDouble.of(v);
        } catch (NumberFormatException ex) {
            return OptionalDouble.empty();
        }
    }
}
