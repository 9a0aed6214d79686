package dev.lancet.engine.prune;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import dev.lancet.engine.nn.Linear;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One linear layer priced weight by weight, its bias an extra input column: W̃ = [W | b]. Costs are kept sorted (with
 * their positions), so a count at any threshold is one binary search.
 */
final class ElementUnit implements PruneUnit {

    private final int block;
    private final Linear linear;
    /** Costs of W̃ in row-major order, and sorted. */
    private final float[] costs;
    private final float[] sortedCosts;

    private ElementUnit(int block, Linear linear, float[] costs) {
        this.block = block;
        this.linear = linear;
        this.costs = costs;
        this.sortedCosts = costs.clone();
        Arrays.sort(sortedCosts);
    }

    /** ½ w² for every weight and bias: no curvature. */
    static ElementUnit magnitude(int block, Linear linear) {
        float[] w = withBias(linear);
        float[] costs = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            costs[i] = 0.5f * w[i] * w[i];
        }
        return new ElementUnit(block, linear, costs);
    }

    /** W̃ = [W | b], row-major. */
    private static float[] withBias(Linear linear) {
        INDArray w = linear.weight().castTo(DataType.FLOAT);
        if (linear.bias() != null) {
            w = Nd4j.hstack(w, linear.bias().castTo(DataType.FLOAT).reshape(linear.outFeatures(), 1));
        }
        return w.dup('c').data().asFloat();
    }

    @Override
    public double maxCost() {
        return sortedCosts.length == 0 ? 0 : sortedCosts[sortedCosts.length - 1];
    }

    @Override
    public long count(double tau) {
        int lo = 0;
        int hi = sortedCosts.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (sortedCosts[mid] <= tau) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    @Override
    public UnitReport apply(double tau) {
        float[] w = withBias(linear);
        long removed = 0;
        for (int i = 0; i < w.length; i++) {
            if (costs[i] <= tau) {
                w[i] = 0;
                removed++;
            }
        }
        INDArray pruned = Nd4j.createFromArray(w).reshape(linear.outFeatures(), w.length / linear.outFeatures());
        int columns = linear.inFeatures();
        linear.weight().assign(pruned.get(all(), interval(0, columns)));
        if (linear.bias() != null) {
            linear.bias().assign(pruned.getColumn(columns));
        }
        return UnitReport.dense(block, List.of(new UnitReport.LayerRemoval(linear.name(), 0, 0, removed)));
    }

    @Override
    public void close() {
    }
}
