package dev.lancet.engine.prune;

/**
 * Weights one layer loses at a threshold when its rows and columns are removed (rows-cols structure): with n_R rows
 * and n_C columns at most the threshold, n_R·C̃ + n_C·R − n_R·n_C, the weights in both a removed row and a removed
 * column counted once.
 */
public final class RowColumnCount implements RemovalCount {

    private final SortedCosts rows;
    private final SortedCosts columns;
    private final long rowLength;
    private final long columnLength;

    /** From the layer's {@link LayerCosts#rows} ([R]) and {@link LayerCosts#columns} ([C̃]). */
    public RowColumnCount(double[] rowCosts, double[] columnCosts) {
        this.rows = SortedCosts.of(rowCosts, 1);
        this.columns = SortedCosts.of(columnCosts, 1);
        this.rowLength = columnCosts.length;
        this.columnLength = rowCosts.length;
    }

    @Override
    public long count(double threshold) {
        long r = rows.structures(threshold);
        long c = columns.structures(threshold);
        return r * rowLength + c * columnLength - r * c;
    }
}
