package bdbench.spark;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.python.PythonEvalType;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.catalyst.plans.logical.ArrowEvalPython;
import org.apache.spark.sql.catalyst.plans.logical.BatchEvalPython;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/**
 * Inspection and construction of the logical Python evaluation nodes ({@code ArrowEvalPython},
 * {@code BatchEvalPython}) that Spark's "Extract Python UDFs" batch builds. The two classes
 * share no Java-visible interface for their UDFs and result attributes, hence these helpers.
 */
public final class PythonEvalNodes {

    private PythonEvalNodes() {
    }

    /** True for the two logical Python evaluation nodes the rules understand. */
    public static boolean isEvalNode(LogicalPlan p) {
        return p instanceof ArrowEvalPython || p instanceof BatchEvalPython;
    }

    /** The UDFs an eval node computes, in the order of its result attributes. */
    public static List<PythonUDF> udfsOf(LogicalPlan eval) {
        return ScalaSeqs.toList(eval instanceof ArrowEvalPython
                ? ((ArrowEvalPython) eval).udfs()
                : ((BatchEvalPython) eval).udfs());
    }

    /** The attributes an eval node appends to its child's output, one per UDF. */
    public static List<Attribute> resultAttrsOf(LogicalPlan eval) {
        return ScalaSeqs.toList(eval instanceof ArrowEvalPython
                ? ((ArrowEvalPython) eval).resultAttrs()
                : ((BatchEvalPython) eval).resultAttrs());
    }

    /**
     * A new eval node of the class and eval type of {@code origin}, computing {@code udfs} into
     * {@code attrs}. Reusing the original attributes keeps their expression ids, so expressions
     * above the node keep resolving.
     */
    public static LogicalPlan newEvalNode(LogicalPlan origin, List<PythonUDF> udfs,
                                          List<Attribute> attrs, LogicalPlan child) {
        if (origin instanceof ArrowEvalPython) {
            return new ArrowEvalPython(ScalaSeqs.toSeq(udfs), ScalaSeqs.toSeq(attrs), child,
                    ((ArrowEvalPython) origin).evalType());
        }
        return new BatchEvalPython(ScalaSeqs.toSeq(udfs), ScalaSeqs.toSeq(attrs), child);
    }

    /**
     * Whether UDFs taken from eval nodes {@code a} and {@code b} may be computed by one node,
     * as Spark itself would group them: same node class and eval type, and not an eval type
     * whose UDF Spark always evaluates alone.
     */
    public static boolean canShareNode(LogicalPlan a, LogicalPlan b) {
        if (a.getClass() != b.getClass()) {
            return false;
        }
        if (a instanceof ArrowEvalPython) {
            int ta = ((ArrowEvalPython) a).evalType();
            return ta == ((ArrowEvalPython) b).evalType() && !runsAlone(ta);
        }
        return true;
    }

    /**
     * The kind of node a UDF from {@code eval} needs, as a number: UDFs of different kinds
     * never share a node (see {@link #canShareNode}).
     */
    public static int kindOf(LogicalPlan eval) {
        return eval instanceof ArrowEvalPython ? ((ArrowEvalPython) eval).evalType() : -1;
    }

    /** Whether a UDF taken from {@code eval} must be alone in its node. */
    public static boolean runsAloneIn(LogicalPlan eval) {
        return eval instanceof ArrowEvalPython && runsAlone(((ArrowEvalPython) eval).evalType());
    }

    /**
     * Whether Spark evaluates a UDF of this eval type alone in its node: an iterator UDF is
     * handed the whole stream of batches, so the Python worker accepts one per node. (Spark
     * 4.1+ treats {@code SQL_SCALAR_ARROW_ITER_UDF} the same way; not handled here yet.)
     */
    private static boolean runsAlone(int evalType) {
        return evalType == PythonEvalType.SQL_SCALAR_PANDAS_ITER_UDF();
    }

    /**
     * Every Python UDF call inside an expression, outermost first: a chained call such as
     * {@code f(g(x))} makes the worker run both functions per row.
     */
    public static List<PythonUDF> udfCallsIn(Expression e) {
        List<PythonUDF> out = new ArrayList<>();
        collect(e, out);
        return out;
    }

    private static void collect(Expression e, List<PythonUDF> out) {
        if (e instanceof PythonUDF) {
            out.add((PythonUDF) e);
        }
        for (Expression child : ScalaSeqs.toList(e.children())) {
            collect(child, out);
        }
    }
}
