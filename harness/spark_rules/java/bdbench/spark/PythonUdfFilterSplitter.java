package bdbench.spark;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.Set;

import org.apache.spark.sql.catalyst.expressions.And;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeSet;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.catalyst.plans.logical.ArrowEvalPython;
import org.apache.spark.sql.catalyst.plans.logical.BatchEvalPython;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Project;
import org.apache.spark.sql.catalyst.trees.TreeNodeTag;

import scala.jdk.javaapi.CollectionConverters;

/**
 * The logical rewrite shared by the planner strategy and the post-extraction optimizer rule:
 * it turns a filter over Python-UDF evaluation into a chain in which each UDF only sees the
 * rows that survived the cheaper predicates before it.
 *
 * <p>Input shape (what Spark's "Extract Python UDFs" batch produces for
 * {@code filter(udfA(..) > a).filter(udfB(..) > b)}):
 * <pre>  Filter(r0 > a AND r1 > b, EvalPython([udfA, udfB], [r0, r1], child))</pre>
 * Output shape, with udfB ranked cheaper:
 * <pre>  Project(original output,
 *     Filter(r0 > a, EvalPython([udfA], [r0],
 *       Filter(r1 > b, EvalPython([udfB], [r1], child)))))</pre>
 * Both {@code ArrowEvalPython} and {@code BatchEvalPython} are handled. A stack of eval nodes,
 * possibly with filters between them (what Spark builds when UDFs of different eval types are
 * mixed), is flattened into one problem first; each new node keeps the class and eval type of
 * the node its UDF came from.
 *
 * <p>Safety: it only fires when every conjunct and every UDF is deterministic (evaluating a
 * non-deterministic UDF on fewer rows would change results), when each UDF reads only columns
 * of the child (no UDF consumes another's result), and when the rewrite actually places a
 * filter between two UDF evaluations. Its filters are tagged and never peeled again, and a
 * rewrite equal to its input is dropped, so re-planning (and a fixed-point rule batch) ends.
 * While the barrier is on, it leaves alone eval nodes that would call a constrained UDF twice
 * per row ({@link ConstrainedUdfBarrierStrategy} rewrites those): the constraint wins.
 */
public final class PythonUdfFilterSplitter {

    /** Tag set on every Filter this class builds, so it never rewrites its own output. */
    public static final TreeNodeTag<String> SPLIT_TAG = new TreeNodeTag<>("bdbench.udfFilterSplit");

    /** SQL_SCALAR_PANDAS_ITER_UDF: Spark evaluates such a UDF alone in its node. */
    private static final int PANDAS_ITER_EVAL_TYPE = 204;

    private PythonUdfFilterSplitter() {
    }

    /** One UDF computed by an eval node, with what we need to order and re-create it. */
    private static final class Slot {
        final PythonUDF udf;
        final Attribute result;
        final LogicalPlan origin;   // the eval node it came from: decides node class and eval type
        final int position;         // written order, the tie-breaker
        final double rank;

        Slot(PythonUDF udf, Attribute result, LogicalPlan origin, int position, double rank) {
            this.udf = udf;
            this.result = result;
            this.origin = origin;
            this.position = position;
            this.rank = rank;
        }
    }

    /** One conjunct of the filter condition and the UDF slots whose results it reads. */
    private static final class Conjunct {
        final Expression expr;
        final Set<Integer> needs;

        Conjunct(Expression expr, Set<Integer> needs) {
            this.expr = expr;
            this.needs = needs;
        }
    }

    /**
     * Rewrites {@code filter} into a chain of single-UDF evaluations and filters, or returns
     * empty when the pattern does not match or the rewrite would gain nothing.
     *
     * @param filter a Filter node, possibly directly above one or more Python eval nodes
     * @param costs  cost/selectivity annotations used to order the UDFs
     */
    public static Optional<LogicalPlan> rewrite(Filter filter, UdfCostModel costs) {
        if (filter.getTagValue(SPLIT_TAG).isDefined()) {
            return Optional.empty();
        }
        // Peel the chain under the filter: eval nodes, and filters that sit between eval nodes
        // (Spark already pushes a predicate between two stacked eval nodes when UDFs of
        // different eval types are mixed, but always in extraction order, not by cost).
        List<LogicalPlan> evals = new ArrayList<>();                  // top-down
        List<Expression> predicates = new ArrayList<>(splitConjuncts(filter.condition()));
        LogicalPlan node = filter.child();
        while (true) {
            if (isEvalNode(node)) {
                evals.add(node);
                node = node.children().head();
            } else if (node instanceof Filter && !evals.isEmpty()
                    && isEvalNode(((Filter) node).child())
                    && ((Filter) node).getTagValue(SPLIT_TAG).isEmpty()) {
                predicates.addAll(splitConjuncts(((Filter) node).condition()));
                node = ((Filter) node).child();
            } else {
                break;
            }
        }
        if (evals.isEmpty()) {
            return Optional.empty();
        }
        if (costs.barrierEnabled()) {
            // Splitting would spread a repeated constrained call over several nodes, each
            // calling it again; leave the node to ConstrainedUdfBarrierStrategy instead.
            List<PythonUDF> all = new ArrayList<>();
            for (LogicalPlan eval : evals) {
                all.addAll(CollectionConverters.asJava(udfsOf(eval)));
            }
            if (ConstrainedUdfBarrierStrategy.repeatsConstrainedCall(all, costs)) {
                return Optional.empty();
            }
        }
        final LogicalPlan base = node;
        AttributeSet baseOutput = base.outputSet();

        // Bottom-up matches the order in which Spark extracted the UDFs (written order).
        Collections.reverse(evals);
        List<Slot> slots = new ArrayList<>();
        for (LogicalPlan eval : evals) {
            List<PythonUDF> udfs = CollectionConverters.asJava(udfsOf(eval));
            List<Attribute> attrs = CollectionConverters.asJava(resultAttrsOf(eval));
            for (int i = 0; i < udfs.size(); i++) {
                PythonUDF udf = udfs.get(i);
                // A UDF reading another eval node's result needs that node below it: keep
                // Spark's plan rather than track dependencies.
                if (!udf.deterministic() || !udf.references().subsetOf(baseOutput)) {
                    return Optional.empty();
                }
                OptionalDouble sel = costs.selectivityOfName(udf.name());
                double rank = UdfCostModel.rank(costs.costOf(udf), sel);
                slots.add(new Slot(udf, attrs.get(i), eval, slots.size(), rank));
            }
        }

        List<Conjunct> conjuncts = new ArrayList<>();
        Set<Integer> referenced = new HashSet<>();
        for (Expression e : predicates) {
            if (!e.deterministic()) {
                return Optional.empty();
            }
            Set<Integer> needs = new HashSet<>();
            AttributeSet refs = e.references();
            for (Slot s : slots) {
                if (refs.contains(s.result)) {
                    needs.add(s.position);
                }
            }
            referenced.addAll(needs);
            conjuncts.add(new Conjunct(e, needs));
        }
        if (referenced.size() < 2) {
            return Optional.empty();   // one filtering UDF: nothing to order
        }

        // Filtering UDFs by ascending rank (stable: ties keep written order), then the UDFs whose
        // results are only used above the filter: those now run on surviving rows only.
        List<Slot> filtering = new ArrayList<>();
        List<Slot> passThrough = new ArrayList<>();
        for (Slot s : slots) {
            (referenced.contains(s.position) ? filtering : passThrough).add(s);
        }
        filtering.sort(Comparator.comparingDouble((Slot s) -> s.rank)
                .thenComparingInt(s -> s.position));

        List<Filter> built = new ArrayList<>();
        List<Conjunct> pending = new ArrayList<>(conjuncts);
        Set<Integer> available = new HashSet<>();
        // Plain (non-UDF) conjuncts first: they are free compared with any Python call.
        LogicalPlan current = addReadyFilter(base, pending, available, built);
        int interleaved = 0;
        for (int i = 0; i < filtering.size(); i++) {
            Slot s = filtering.get(i);
            current = newEvalNode(s.origin, List.of(s), current);
            available.add(s.position);
            LogicalPlan filtered = addReadyFilter(current, pending, available, built);
            if (filtered != current && i < filtering.size() - 1) {
                interleaved++;   // a filter sits between two UDF evaluations: rows are saved
            }
            current = filtered;
        }
        if (interleaved == 0 || !pending.isEmpty()) {
            return Optional.empty();
        }
        current = addPassThroughEvals(current, passThrough);
        if (current.equals(filter)) {
            return Optional.empty();   // already in this order (e.g. our own output): no change
        }

        for (Filter f : built) {
            f.setTagValue(SPLIT_TAG, "split");
        }
        // The new chain emits the UDF results in a different order: restore the original
        // output so that parents (and their bound references) see exactly the same schema.
        if (!current.output().equals(filter.output())) {
            List<NamedExpression> projectList = new ArrayList<>(CollectionConverters.asJava(filter.output()));
            current = new Project(CollectionConverters.asScala(projectList).toSeq(), current);
        }
        return Optional.of(current);
    }

    /** True for the two logical Python evaluation nodes this rewrite understands. */
    public static boolean isEvalNode(LogicalPlan p) {
        return p instanceof ArrowEvalPython || p instanceof BatchEvalPython;
    }

    private static scala.collection.immutable.Seq<PythonUDF> udfsOf(LogicalPlan eval) {
        return eval instanceof ArrowEvalPython
                ? ((ArrowEvalPython) eval).udfs()
                : ((BatchEvalPython) eval).udfs();
    }

    private static scala.collection.immutable.Seq<Attribute> resultAttrsOf(LogicalPlan eval) {
        return eval instanceof ArrowEvalPython
                ? ((ArrowEvalPython) eval).resultAttrs()
                : ((BatchEvalPython) eval).resultAttrs();
    }

    /** A new eval node of the same class and eval type as {@code origin}, computing {@code slots}. */
    private static LogicalPlan newEvalNode(LogicalPlan origin, List<Slot> slots, LogicalPlan child) {
        List<PythonUDF> udfs = new ArrayList<>();
        List<Attribute> attrs = new ArrayList<>();
        for (Slot s : slots) {
            udfs.add(s.udf);
            attrs.add(s.result);   // same exprIds: expressions above keep resolving
        }
        scala.collection.immutable.Seq<PythonUDF> udfSeq = CollectionConverters.asScala(udfs).toSeq();
        scala.collection.immutable.Seq<Attribute> attrSeq = CollectionConverters.asScala(attrs).toSeq();
        if (origin instanceof ArrowEvalPython) {
            return new ArrowEvalPython(udfSeq, attrSeq, child, ((ArrowEvalPython) origin).evalType());
        }
        return new BatchEvalPython(udfSeq, attrSeq, child);
    }

    /**
     * UDFs not used by the filter are evaluated after it, grouped into as few nodes as Spark
     * itself would allow (same origin class and eval type; a pandas iterator UDF alone).
     */
    private static LogicalPlan addPassThroughEvals(LogicalPlan current, List<Slot> passThrough) {
        List<Slot> group = new ArrayList<>();
        for (Slot s : passThrough) {
            if (!group.isEmpty() && !sameKind(group.get(0), s)) {
                current = newEvalNode(group.get(0).origin, group, current);
                group = new ArrayList<>();
            }
            group.add(s);
        }
        if (!group.isEmpty()) {
            current = newEvalNode(group.get(0).origin, group, current);
        }
        return current;
    }

    private static boolean sameKind(Slot a, Slot b) {
        if (a.origin.getClass() != b.origin.getClass()) {
            return false;
        }
        if (a.origin instanceof ArrowEvalPython) {
            int ta = ((ArrowEvalPython) a.origin).evalType();
            int tb = ((ArrowEvalPython) b.origin).evalType();
            return ta == tb && ta != PANDAS_ITER_EVAL_TYPE;
        }
        return true;
    }

    /** Filters {@code child} by every pending conjunct whose UDF results are all available. */
    private static LogicalPlan addReadyFilter(LogicalPlan child, List<Conjunct> pending,
                                              Set<Integer> available, List<Filter> built) {
        List<Expression> ready = new ArrayList<>();
        pending.removeIf(c -> {
            if (available.containsAll(c.needs)) {
                ready.add(c.expr);
                return true;
            }
            return false;
        });
        if (ready.isEmpty()) {
            return child;
        }
        Filter f = new Filter(conjunction(ready), child);
        built.add(f);
        return f;
    }

    /** Splits nested ANDs into their conjuncts, left to right. */
    public static List<Expression> splitConjuncts(Expression condition) {
        List<Expression> out = new ArrayList<>();
        split(condition, out);
        return out;
    }

    private static void split(Expression e, List<Expression> out) {
        if (e instanceof And) {
            And and = (And) e;
            split(and.left(), out);
            split(and.right(), out);
        } else {
            out.add(e);
        }
    }

    /** Left-deep AND of a non-empty list of predicates. */
    public static Expression conjunction(List<Expression> predicates) {
        Expression result = predicates.get(0);
        for (int i = 1; i < predicates.size(); i++) {
            result = new And(result, predicates.get(i));
        }
        return result;
    }
}
