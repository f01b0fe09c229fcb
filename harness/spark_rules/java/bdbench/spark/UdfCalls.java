package bdbench.spark;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

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

        /**
         * Runs more than once per row, merging the runs is allowed and wanted, and pays: a
         * constrained UDF without a cost annotation always (its declaration is the user's word
         * that one call per row matters), an annotated one when its repeated calls over the
         * rows cost more than the extra node the barrier adds.
         */
        boolean repeatedConstrained(UdfCostModel costs, double rowsPerWorker) {
            if (count < 2 || !udf.deterministic() || !costs.isConstrained(udf.name())) {
                return false;
            }
            if (!costs.hasCost(udf.name())) {
                return true;
            }
            return (count - 1) * rowsPerWorker * costs.costOfName(udf.name()) > costs.nodeCost();
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
     * True when {@code udfs}, evaluated together over {@code input}'s rows, would call a
     * constrained, deterministic UDF more than once per row and the barrier would act on it.
     */
    public static boolean repeatsConstrainedCall(List<PythonUDF> udfs, UdfCostModel costs,
                                                 LogicalPlan input) {
        Map<Expression, Call> calls = count(udfs);
        if (calls.values().stream().noneMatch(c -> c.count > 1)) {
            return false;   // the common case: no statistics needed
        }
        double rows = rowsPerWorker(udfs, costs, input);
        for (Call c : calls.values()) {
            if (c.repeatedConstrained(costs, rows)) {
                return true;
            }
        }
        return false;
    }

    /** Rows per worker that {@code input} gives the UDF calls in {@code udfs}. */
    static double rowsPerWorker(List<PythonUDF> udfs, UdfCostModel costs, LogicalPlan input) {
        List<String> names = new ArrayList<>();
        for (PythonUDF u : udfs) {
            for (PythonUDF call : PythonEvalNodes.udfCallsIn(u)) {
                names.add(call.name());
            }
        }
        return costs.rowsPerWorker(input, names);
    }
}
