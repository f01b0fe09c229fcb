package bdbench.spark;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;

/**
 * The distinct Python UDF calls that the UDFs of an eval node make per row, with how often each
 * runs. Both rewrites need it: the barrier to remove repeated constrained calls, the filter
 * split to leave such nodes to the barrier.
 */
public final class UdfCalls {

    /** One distinct (canonical) Python UDF call. */
    static final class Call {
        final PythonUDF udf;
        int count;
        int topIndex = -1;   // position among the node's UDFs, -1 when only nested

        Call(PythonUDF udf) {
            this.udf = udf;
        }

        /** Runs more than once per row, and merging the runs is allowed and wanted. */
        boolean repeatedConstrained(UdfCostModel costs) {
            return count > 1 && udf.deterministic() && costs.isConstrained(udf.name());
        }
    }

    private UdfCalls() {
    }

    /** Every distinct call in {@code udfs} by canonical form, in pre-order of discovery. */
    static Map<Expression, Call> count(List<PythonUDF> udfs) {
        Map<Expression, Call> calls = new LinkedHashMap<>();
        for (int i = 0; i < udfs.size(); i++) {
            for (PythonUDF call : PythonEvalNodes.udfCallsIn(udfs.get(i))) {
                calls.computeIfAbsent(call.canonicalized(), k -> new Call(call)).count++;
            }
            calls.get(udfs.get(i).canonicalized()).topIndex = i;
        }
        return calls;
    }

    /**
     * True when {@code udfs}, evaluated together, would call a constrained, deterministic UDF
     * more than once per row.
     */
    public static boolean repeatsConstrainedCall(List<PythonUDF> udfs, UdfCostModel costs) {
        for (Call c : count(udfs).values()) {
            if (c.repeatedConstrained(costs)) {
                return true;
            }
        }
        return false;
    }
}
