package dev.lancet.engine.prune;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One layer's structure costs sorted once, each with the weights its removal takes (1 per element, 2 per 2:4 block,
 * a group's parameters), so that {@link #count} is a binary search: what a worker answers to each step of a
 * coordinator's threshold bisection without shipping its costs.
 */
public final class SortedCosts implements RemovalCount {

    private final double[] ascending;
    /** removed[k]: weights removed with the k + 1 cheapest structures. */
    private final long[] removed;

    private SortedCosts(double[] ascending, long[] removed) {
        this.ascending = ascending;
        this.removed = removed;
    }

    /** Structures that each remove {@code weightsEach} weights. */
    public static SortedCosts of(double[] costs, long weightsEach) {
        double[] ascending = costs.clone();
        Arrays.sort(ascending);
        long[] removed = new long[ascending.length];
        for (int k = 0; k < removed.length; k++) {
            removed[k] = (k + 1) * weightsEach;
        }
        return new SortedCosts(ascending, removed);
    }

    /** Each element of an [R, C̃] element-cost array removes one weight. */
    public static SortedCosts of(INDArray elementCosts) {
        double[] costs = new double[Math.toIntExact(elementCosts.length())];
        AugmentedWeight.rowMajorValues(elementCosts).get(0, costs);
        return of(costs, 1);
    }

    /** Structures of different sizes: {@code weights[k]} go with {@code costs[k]}. */
    public static SortedCosts of(double[] costs, long[] weights) {
        if (costs.length != weights.length) {
            throw new IllegalArgumentException(costs.length + " costs for " + weights.length + " weights");
        }
        int[] order = IntStream.range(0, costs.length).boxed().sorted(Comparator.comparingDouble(k -> costs[k]))
                .mapToInt(Integer::intValue).toArray();
        double[] ascending = new double[costs.length];
        long[] removed = new long[costs.length];
        long total = 0;
        for (int k = 0; k < order.length; k++) {
            ascending[k] = costs[order[k]];
            total += weights[order[k]];
            removed[k] = total;
        }
        return new SortedCosts(ascending, removed);
    }

    /** Weights removed at {@code threshold}: those of every structure whose cost is at most it. */
    @Override
    public long count(double threshold) {
        int k = structures(threshold);
        return k == 0 ? 0 : removed[k - 1];
    }

    /** How many structures cost at most {@code threshold}. */
    public int structures(double threshold) {
        int lo = 0;
        int hi = ascending.length;
        while (lo < hi) { // first index whose cost exceeds the threshold
            int mid = (lo + hi) >>> 1;
            if (ascending[mid] <= threshold) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** The largest cost at most {@code threshold}, or −∞ when there is none. */
    public double floor(double threshold) {
        int k = structures(threshold);
        return k == 0 ? Double.NEGATIVE_INFINITY : ascending[k - 1];
    }
}
