package bdbench.spark;

import java.util.ArrayList;
import java.util.List;

/**
 * The cheapest grouping of filtering Python UDFs into eval nodes, under the cost model
 * (mirror of {@code harness/spark_rules/planner.py}, same algorithm and arithmetic, so both
 * return the same plan for equal inputs).
 *
 * <p>A plan is a sequence of nodes, bottom-up; it costs, summed over its nodes,
 * {@code F + rowsPerWorker x (fraction of rows reaching the node) x (sum of the node's per-row
 * costs)}, where the fraction is the product of the selectivities of the UDFs in the nodes
 * below (independence assumed). Up to {@link #MAX_EXACT} UDFs the search is exact: dynamic
 * programming over the subsets already evaluated tries every grouping and order (3^n steps).
 * Grouping the rank order into consecutive nodes is not enough: with a node cost the best plan
 * can put UDFs of distant ranks in one node. Above that, consecutive groups of the rank order
 * (n^2 steps). Ties keep the plan with fewer nodes, so plain Spark's single node wins a tie.
 */
public final class UdfFilterPlanner {

    /** The largest number of UDFs planned exactly. */
    public static final int MAX_EXACT = 12;

    private UdfFilterPlanner() {
    }

    /** A filtering UDF as the planner sees it (inputs are given in rank order). */
    public static final class Step {
        final double cost;          // seconds per row
        final double selectivity;
        final int kind;             // UDFs of different kinds never share a node
        final boolean alone;        // this kind always runs alone in a node

        /** A step; see the class comment for the units. */
        public Step(double cost, double selectivity, int kind, boolean alone) {
            this.cost = cost;
            this.selectivity = selectivity;
            this.kind = kind;
            this.alone = alone;
        }
    }

    /** Groups of step indices, bottom-up, with the predicted cost. */
    public static final class Plan {
        public final List<int[]> groups;
        public final double cost;

        Plan(List<int[]> groups, double cost) {
            this.groups = groups;
            this.cost = cost;
        }
    }

    /** The model's cost of {@code groups} (bottom-up) over {@code rowsPerWorker} rows. */
    public static double cost(List<int[]> groups, List<Step> steps, double rowsPerWorker,
                              double nodeCost) {
        double total = 0;
        double passing = 1;
        for (int[] g : groups) {
            double c = 0;
            for (int i : g) {
                c += steps.get(i).cost;
            }
            total += nodeCost + rowsPerWorker * passing * c;
            for (int i : g) {
                passing *= steps.get(i).selectivity;
            }
        }
        return total;
    }

    /** The cheapest plan for {@code steps} (in rank order). */
    public static Plan best(List<Step> steps, double rowsPerWorker, double nodeCost) {
        List<int[]> groups = steps.size() <= MAX_EXACT
                ? exact(steps, rowsPerWorker, nodeCost)
                : consecutive(steps, rowsPerWorker, nodeCost);
        return new Plan(groups, cost(groups, steps, rowsPerWorker, nodeCost));
    }

    private static boolean compatible(List<Step> group) {
        for (Step s : group) {
            if (s.kind != group.get(0).kind || (s.alone && group.size() > 1)) {
                return false;
            }
        }
        return !group.isEmpty();
    }

    private static List<Step> members(List<Step> steps, int mask) {
        List<Step> out = new ArrayList<>();
        for (int j = 0; j < steps.size(); j++) {
            if ((mask >> j & 1) != 0) {
                out.add(steps.get(j));
            }
        }
        return out;
    }

    /** The rank-order indices of the steps in {@code mask} (bit j is step n - 1 - j), ascending. */
    private static int[] indices(int n, int mask) {
        return java.util.stream.IntStream.range(0, n).filter(j -> (mask >> j & 1) != 0)
                .map(j -> n - 1 - j).sorted().toArray();
    }

    /**
     * value[mask]: cheapest way to evaluate the UDFs not in mask, rows having passed mask's.
     * Step i of the rank order is bit n - 1 - i and submasks are tried largest first, so ties
     * keep fewer nodes (one node first: Spark's plan), then earlier-ranked UDFs first.
     */
    private static List<int[]> exact(List<Step> rankOrder, double rows, double f) {
        int n = rankOrder.size();
        List<Step> steps = new ArrayList<>(rankOrder);
        java.util.Collections.reverse(steps);
        int full = (1 << n) - 1;
        double[] cost = new double[full + 1];
        double[] sel = new double[full + 1];
        boolean[] valid = new boolean[full + 1];
        sel[0] = 1.0;
        for (int mask = 1; mask <= full; mask++) {
            int low = mask & -mask;
            int i = Integer.numberOfTrailingZeros(low);
            cost[mask] = cost[mask ^ low] + steps.get(i).cost;
            sel[mask] = sel[mask ^ low] * steps.get(i).selectivity;
            valid[mask] = compatible(members(steps, mask));
        }
        double[] value = new double[full + 1];
        int[] choice = new int[full + 1];
        for (int mask = full - 1; mask >= 0; mask--) {
            int rest = full & ~mask;
            double best = Double.POSITIVE_INFINITY;
            int bestSub = 0;
            for (int sub = rest; sub != 0; sub = (sub - 1) & rest) {
                if (valid[sub]) {
                    double v = f + rows * sel[mask] * cost[sub] + value[mask | sub];
                    if (v < best) {
                        best = v;
                        bestSub = sub;
                    }
                }
            }
            value[mask] = best;
            choice[mask] = bestSub;
        }
        List<int[]> groups = new ArrayList<>();
        for (int mask = 0; mask != full; mask |= choice[mask]) {
            groups.add(indices(n, choice[mask]));
        }
        return groups;
    }

    /** Consecutive groups of the rank order. */
    private static List<int[]> consecutive(List<Step> steps, double rows, double f) {
        int n = steps.size();
        double[] prefix = new double[n + 1];
        prefix[0] = 1.0;
        for (int i = 0; i < n; i++) {
            prefix[i + 1] = prefix[i] * steps.get(i).selectivity;
        }
        double[] value = new double[n + 1];
        int[] start = new int[n + 1];
        java.util.Arrays.fill(value, Double.POSITIVE_INFINITY);
        value[0] = 0.0;
        for (int k = 1; k <= n; k++) {
            for (int j = 0; j < k; j++) {
                List<Step> group = steps.subList(j, k);
                if (!compatible(group)) {
                    continue;
                }
                double c = 0;
                for (Step s : group) {
                    c += s.cost;
                }
                double v = value[j] + f + rows * prefix[j] * c;
                if (v < value[k]) {
                    value[k] = v;
                    start[k] = j;
                }
            }
        }
        List<int[]> groups = new ArrayList<>();
        for (int k = n; k > 0; k = start[k]) {
            groups.add(0, java.util.stream.IntStream.range(start[k], k).toArray());
        }
        return groups;
    }
}
