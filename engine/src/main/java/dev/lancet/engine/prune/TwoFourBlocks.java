package dev.lancet.engine.prune;

import dev.lancet.engine.model.LinearLayout;
import java.nio.DoubleBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The 2:4 blocks of one layer: each aligned group of 4 consecutive input columns of the weight itself, per row (the
 * bias column never belongs to one, and blocks are aligned to the weight's columns whether or not a bias follows:
 * the reference misaligns them then). A block's cost is the sum of its two cheapest element costs (the elements
 * taken as independent, as the reference), and removing it removes those two.
 */
public final class TwoFourBlocks {

    private final int rows;
    private final int columns;
    private final double[] costs;
    /** Per block, a 4-bit set of the two positions removed with it. */
    private final byte[] pairs;

    private TwoFourBlocks(int rows, int columns, double[] costs, byte[] pairs) {
        this.rows = rows;
        this.columns = columns;
        this.costs = costs;
        this.pairs = pairs;
    }

    /** Throws an IllegalArgumentException naming the layer unless its input width is a multiple of 4. */
    public static void check(LinearLayout layer) {
        check(layer.name(), layer.in());
    }

    private static void check(String layer, int inputs) {
        if (inputs % 4 != 0) {
            throw new IllegalArgumentException("2:4 needs input widths that are multiples of 4; " + layer + " has "
                    + inputs + " inputs");
        }
    }

    /** The blocks of a layer from its element costs ({@link LayerCosts#elements}, [R, C̃]). */
    public static TwoFourBlocks of(LayerCurvature c, INDArray elementCosts) {
        check(c.layer(), c.inputs());
        int rows = c.rows();
        int columns = c.columns();
        int perRow = c.inputs() / 4;
        DoubleBuffer values = AugmentedWeight.rowMajorValues(elementCosts);
        double[] costs = new double[rows * perRow];
        byte[] pairs = new byte[rows * perRow];
        double[] block = new double[4];
        for (int i = 0; i < rows; i++) {
            for (int b = 0; b < perRow; b++) {
                for (int p = 0; p < 4; p++) {
                    block[p] = values.get(i * columns + 4 * b + p);
                }
                int first = cheapest(block, -1);
                int second = cheapest(block, first);
                costs[i * perRow + b] = block[first] + block[second];
                pairs[i * perRow + b] = (byte) ((1 << first) | (1 << second));
            }
        }
        return new TwoFourBlocks(rows, columns, costs, pairs);
    }

    /** The position of the smallest cost other than {@code skip}; ties go to the lower position. */
    private static int cheapest(double[] block, int skip) {
        int best = -1;
        for (int p = 0; p < 4; p++) {
            if (p != skip && (best < 0 || block[p] < block[best])) {
                best = p;
            }
        }
        return best;
    }

    /** Block costs, row-major [R, inputs / 4]. */
    public double[] costs() {
        return costs.clone();
    }

    /** Weights removed at a threshold: 2 per block whose cost is at most it. */
    public SortedCosts removalCount() {
        return SortedCosts.of(costs, 2);
    }

    /** The two cheapest weights of every block whose cost is at most {@code threshold}. */
    public ElementMask mask(double threshold) {
        ElementMask mask = new ElementMask(rows, columns);
        int perRow = costs.length / rows;
        for (int at = 0; at < costs.length; at++) {
            if (costs[at] <= threshold) {
                for (int p = 0; p < 4; p++) {
                    if ((pairs[at] >> p & 1) != 0) {
                        mask.remove(at / perRow, 4 * (at % perRow) + p);
                    }
                }
            }
        }
        return mask;
    }
}
