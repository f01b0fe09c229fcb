package bdbench.spark;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeSet;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.PythonUDF;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.trees.TreeNodeTag;

/**
 * The logical rewrite shared by the planner strategy and the post-extraction optimizer rule:
 * it turns a filter over Python-UDF evaluation into a chain of eval nodes in which each UDF
 * only sees the rows that survived the predicates of the nodes below it. How many nodes, and
 * which UDFs share one, is {@link UdfFilterPlanner}'s choice under {@link UdfCostModel}: every
 * node costs a fixed amount per query, so Spark's single node stays when splitting cannot win.
 *
 * <p>Input shape (what Spark's "Extract Python UDFs" batch produces for
 * {@code filter(udfA(..) > a).filter(udfB(..) > b)}):
 * <pre>  Filter(r0 > a AND r1 > b, EvalPython([udfA, udfB], [r0, r1], child))</pre>
 * Output shape, with udfB ranked cheaper and the split priced cheaper than one node:
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
 * per row ({@code ConstrainedUdfBarrier} rewrites those): the constraint wins.
 */
public final class PythonUdfFilterSplitter {

    /** Tag set on every Filter this class builds, so it never rewrites its own output. */
    public static final TreeNodeTag<String> SPLIT_TAG = new TreeNodeTag<>("bdbench.udfFilterSplit");

    private final UdfCostModel costs;
    private final boolean barrierOn;

    /**
     * A splitter ordering UDFs by {@code costs}.
     *
     * @param barrierOn whether the constrained-UDF barrier acts: the split then yields to it
     */
    public PythonUdfFilterSplitter(UdfCostModel costs, boolean barrierOn) {
        this.costs = costs;
        this.barrierOn = barrierOn;
    }

    /** The eval nodes under a filter, the conjuncts over them, and the plan they all read. */
    private static final class Chain {
        final List<LogicalPlan> evals = new ArrayList<>();   // bottom-up: Spark's extraction order
        final List<Expression> predicates = new ArrayList<>();
        LogicalPlan base;
    }

    /** One UDF computed by an eval node, with what we need to order and re-create it. */
    private static final class Slot {
        final PythonUDF udf;
        final Attribute result;
        final LogicalPlan origin;   // the eval node it came from: decides node class and eval type
        final int position;         // written order, the tie-breaker
        final double cost;          // seconds per row, with the call's own cost
        final double selectivity;

        Slot(PythonUDF udf, Attribute result, LogicalPlan origin, int position, UdfCostModel costs) {
            this.udf = udf;
            this.result = result;
            this.origin = origin;
            this.position = position;
            this.cost = costs.costOf(udf) + costs.callCost();
            this.selectivity = costs.selectivityOf(udf);
        }

        double rank() {
            return UdfCostModel.rank(cost, selectivity);
        }

        UdfFilterPlanner.Step step() {
            return new UdfFilterPlanner.Step(cost, selectivity, PythonEvalNodes.kindOf(origin),
                    PythonEvalNodes.runsAloneIn(origin));
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
     */
    public Optional<LogicalPlan> rewrite(Filter filter) {
        if (filter.getTagValue(SPLIT_TAG).isDefined()) {
            return Optional.empty();
        }
        Optional<Chain> chain = peel(filter);
        if (chain.isEmpty() || leftToBarrier(chain.get())
                || !Predicates.allDeterministic(chain.get().predicates)) {
            return Optional.empty();
        }
        Optional<List<Slot>> slots = slots(chain.get());
        if (slots.isEmpty()) {
            return Optional.empty();
        }
        List<Conjunct> conjuncts = conjuncts(chain.get().predicates, slots.get());
        Optional<LogicalPlan> split = plannedChain(chain.get(), slots.get(), conjuncts);
        if (split.isEmpty() || split.get().equals(filter)) {
            return Optional.empty();   // equal: already in this order (e.g. our own output)
        }
        return Optional.of(Plans.restoreOutput(split.get(), filter));
    }

    /**
     * The eval nodes under {@code filter} and the filters between them, as one problem: Spark
     * already pushes a predicate between two stacked eval nodes when UDFs of different eval
     * types are mixed, but in extraction order, not by cost. Empty when there is no eval node.
     */
    private static Optional<Chain> peel(Filter filter) {
        Chain chain = new Chain();
        chain.predicates.addAll(Predicates.splitConjuncts(filter.condition()));
        LogicalPlan node = filter.child();
        while (true) {
            if (PythonEvalNodes.isEvalNode(node)) {
                chain.evals.add(node);
                node = node.children().head();
            } else if (!chain.evals.isEmpty() && isForeignFilterOverEval(node)) {
                chain.predicates.addAll(Predicates.splitConjuncts(((Filter) node).condition()));
                node = ((Filter) node).child();
            } else {
                break;
            }
        }
        Collections.reverse(chain.evals);
        chain.base = node;
        return chain.evals.isEmpty() ? Optional.empty() : Optional.of(chain);
    }

    /** A Filter directly on an eval node that this class did not build. */
    private static boolean isForeignFilterOverEval(LogicalPlan node) {
        return node instanceof Filter
                && PythonEvalNodes.isEvalNode(((Filter) node).child())
                && ((Filter) node).getTagValue(SPLIT_TAG).isEmpty();
    }

    /**
     * Whether the chain is the barrier's to rewrite: splitting would spread a repeated
     * constrained call over several nodes, each calling it again.
     */
    private boolean leftToBarrier(Chain chain) {
        if (!barrierOn) {
            return false;
        }
        List<PythonUDF> all = new ArrayList<>();
        for (LogicalPlan eval : chain.evals) {
            all.addAll(PythonEvalNodes.udfsOf(eval));
        }
        return UdfCalls.repeatsConstrainedCall(all, costs, chain.base);
    }

    /**
     * Every UDF of the chain with its rank, in written order; empty when one is
     * non-deterministic or reads another eval node's result (it would need that node below
     * it: Spark's plan is kept rather than such dependencies tracked).
     */
    private Optional<List<Slot>> slots(Chain chain) {
        AttributeSet baseOutput = chain.base.outputSet();
        List<Slot> slots = new ArrayList<>();
        for (LogicalPlan eval : chain.evals) {
            List<PythonUDF> udfs = PythonEvalNodes.udfsOf(eval);
            List<Attribute> attrs = PythonEvalNodes.resultAttrsOf(eval);
            for (int i = 0; i < udfs.size(); i++) {
                PythonUDF udf = udfs.get(i);
                if (!udf.deterministic() || !udf.references().subsetOf(baseOutput)) {
                    return Optional.empty();
                }
                slots.add(new Slot(udf, attrs.get(i), eval, slots.size(), costs));
            }
        }
        return Optional.of(slots);
    }

    /** Each predicate with the positions of the slots whose results it reads. */
    private static List<Conjunct> conjuncts(List<Expression> predicates, List<Slot> slots) {
        List<Conjunct> conjuncts = new ArrayList<>();
        for (Expression e : predicates) {
            Set<Integer> needs = new HashSet<>();
            AttributeSet refs = e.references();
            for (Slot s : slots) {
                if (refs.contains(s.result)) {
                    needs.add(s.position);
                }
            }
            conjuncts.add(new Conjunct(e, needs));
        }
        return conjuncts;
    }

    /**
     * The planned chain over the chain's base: the filtering UDFs grouped into nodes by
     * {@link UdfFilterPlanner} (rank order breaks ties, then written order), each node followed
     * by the conjuncts it completes, then the UDFs whose results are only used above the
     * filter, which now run on surviving rows only. Empty when fewer than two UDFs filter, when
     * the model prices Spark's own plan no higher, or when no filter lands between two UDF
     * evaluations: nothing is saved.
     */
    private Optional<LogicalPlan> plannedChain(Chain chain, List<Slot> slots,
                                               List<Conjunct> conjuncts) {
        Set<Integer> referenced = new HashSet<>();
        conjuncts.forEach(c -> referenced.addAll(c.needs));
        List<Slot> filtering = new ArrayList<>();
        List<Slot> passThrough = new ArrayList<>();
        for (Slot s : slots) {
            (referenced.contains(s.position) ? filtering : passThrough).add(s);
        }
        if (filtering.size() < 2) {
            return Optional.empty();
        }
        filtering.sort(Comparator.comparingDouble(Slot::rank).thenComparingInt(s -> s.position));
        List<UdfFilterPlanner.Step> steps = new ArrayList<>();
        filtering.forEach(s -> steps.add(s.step()));
        List<String> names = new ArrayList<>();
        slots.forEach(s -> names.add(s.udf.name()));
        double rows = costs.rowsPerWorker(chain.base, names);
        double nodeCost = costs.nodeCost();
        UdfFilterPlanner.Plan plan = UdfFilterPlanner.best(steps, rows, nodeCost);
        if (plan.groups.size() < 2) {
            return Optional.empty();
        }
        double passed = 1;
        for (Slot s : filtering) {
            passed *= s.selectivity;
        }
        double passCost = 0;
        for (Slot s : passThrough) {
            passCost += s.cost;
        }
        double planned = plan.cost + passThroughNodes(passThrough) * nodeCost
                + rows * passed * passCost;
        if (!(planned < sparkPlanCost(chain, slots, rows, nodeCost))) {
            return Optional.empty();
        }

        List<Conjunct> pending = new ArrayList<>(conjuncts);
        Set<Integer> available = new HashSet<>();
        // Plain (non-UDF) conjuncts first: they are free compared with any Python call.
        LogicalPlan current = addReadyFilter(chain.base, pending, available);
        int interleaved = 0;
        for (int g = 0; g < plan.groups.size(); g++) {
            List<Slot> group = new ArrayList<>();
            for (int i : plan.groups.get(g)) {
                group.add(filtering.get(i));
            }
            current = evalNode(group, current);
            group.forEach(s -> available.add(s.position));
            LogicalPlan filtered = addReadyFilter(current, pending, available);
            if (filtered != current && g < plan.groups.size() - 1) {
                interleaved++;
            }
            current = filtered;
        }
        if (interleaved == 0 || !pending.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(addPassThroughEvals(current, passThrough));
    }

    /**
     * The model's price of Spark's own plan: its eval nodes bottom-up, every UDF in its node,
     * each node reached by the rows passing the UDFs of the nodes below.
     */
    private static double sparkPlanCost(Chain chain, List<Slot> slots, double rows,
                                        double nodeCost) {
        double total = 0;
        double passing = 1;
        for (LogicalPlan eval : chain.evals) {
            double c = 0;
            for (Slot s : slots) {
                if (s.origin == eval) {
                    c += s.cost;
                }
            }
            total += nodeCost + rows * passing * c;
            for (Slot s : slots) {
                if (s.origin == eval) {
                    passing *= s.selectivity;
                }
            }
        }
        return total;
    }

    /** How many nodes {@link #addPassThroughEvals} makes for {@code passThrough}. */
    private static int passThroughNodes(List<Slot> passThrough) {
        int nodes = 0;
        Slot first = null;
        for (Slot s : passThrough) {
            if (first == null || !PythonEvalNodes.canShareNode(first.origin, s.origin)) {
                nodes++;
                first = s;
            }
        }
        return nodes;
    }

    /** An eval node computing {@code slots}, of the class and eval type of the first's origin. */
    private static LogicalPlan evalNode(List<Slot> slots, LogicalPlan child) {
        List<PythonUDF> udfs = new ArrayList<>();
        List<Attribute> attrs = new ArrayList<>();
        for (Slot s : slots) {
            udfs.add(s.udf);
            attrs.add(s.result);
        }
        return PythonEvalNodes.newEvalNode(slots.get(0).origin, udfs, attrs, child);
    }

    /** The pass-through UDFs over {@code current}, in as few nodes as Spark itself would allow. */
    private static LogicalPlan addPassThroughEvals(LogicalPlan current, List<Slot> passThrough) {
        List<Slot> group = new ArrayList<>();
        for (Slot s : passThrough) {
            if (!group.isEmpty() && !PythonEvalNodes.canShareNode(group.get(0).origin, s.origin)) {
                current = evalNode(group, current);
                group = new ArrayList<>();
            }
            group.add(s);
        }
        return group.isEmpty() ? current : evalNode(group, current);
    }

    /**
     * {@code child} filtered by every pending conjunct whose UDF results are all available
     * (removed from {@code pending}); {@code child} itself when none is ready.
     */
    private static LogicalPlan addReadyFilter(LogicalPlan child, List<Conjunct> pending,
                                              Set<Integer> available) {
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
        Filter f = new Filter(Predicates.conjunction(ready), child);
        f.setTagValue(SPLIT_TAG, "split");
        return f;
    }
}
