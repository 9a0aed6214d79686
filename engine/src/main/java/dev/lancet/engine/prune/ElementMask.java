package dev.lancet.engine.prune;

import java.nio.DoubleBuffer;
import java.util.BitSet;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Which weights of one layer's W̃ (R × C̃) are removed: one bit per weight, row-major. */
public final class ElementMask {

    private final int rows;
    private final int columns;
    private final BitSet removed;

    public ElementMask(int rows, int columns) {
        this.rows = rows;
        this.columns = columns;
        this.removed = new BitSet(Math.multiplyExact(rows, columns));
    }

    /** Every weight whose cost (an [R, C̃] fp64 array) is at most {@code threshold}. */
    public static ElementMask atMost(INDArray costs, double threshold) {
        ElementMask mask = new ElementMask((int) costs.rows(), (int) costs.columns());
        DoubleBuffer values = AugmentedWeight.rowMajorValues(costs);
        for (int at = 0; at < mask.rows * mask.columns; at++) {
            if (values.get(at) <= threshold) {
                mask.removed.set(at);
            }
        }
        return mask;
    }

    public int rows() {
        return rows;
    }

    public int columns() {
        return columns;
    }

    public void remove(int row, int column) {
        removed.set(index(row, column));
    }

    public boolean isRemoved(int row, int column) {
        return removed.get(index(row, column));
    }

    /** Weights removed in all. */
    public long count() {
        return removed.cardinality();
    }

    /** Weights removed in {@code row}. */
    public int countIn(int row) {
        return removed.get(row * columns, (row + 1) * columns).cardinality();
    }

    /** The removed columns of {@code row}, ascending. */
    public int[] removedIn(int row) {
        return removed.get(row * columns, (row + 1) * columns).stream().toArray();
    }

    private int index(int row, int column) {
        if (row < 0 || row >= rows || column < 0 || column >= columns) {
            throw new IndexOutOfBoundsException("(" + row + ", " + column + ") outside " + rows + "×" + columns);
        }
        return row * columns + column;
    }
}
