package dev.lancet.engine.prune;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.nn.Linear;
import java.util.List;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One decoder linear layer priced by rows and columns, 2:4 blocks or single weights, its bias an extra input column.
 * Dense shapes are kept: removed weights become zeros, which cost nothing in later shots, so counts include them.
 */
final class LayerUnit implements PruneUnit {

    private final int block;
    private final Linear layer;
    /** Null for magnitude, which needs no curvature. */
    private final KfacFactor factor;
    private final PruneSettings settings;
    private RemovalCount count;
    private INDArray elementCosts;
    private TwoFourBlocks blocks;
    private double[] rowCosts;
    private double[] columnCosts;

    private LayerUnit(int block, Linear layer, KfacFactor factor, PruneSettings settings) {
        this.block = block;
        this.layer = layer;
        this.factor = factor;
        this.settings = settings;
    }

    /** Prices the layer; its curvature's inverses are freed before this returns. */
    static LayerUnit open(int block, Linear layer, KfacFactor factor, PruneSettings settings) {
        LayerUnit unit = new LayerUnit(block, layer, factor, settings);
        try (LayerCurvature c = unit.curvature()) {
            switch (settings.structure()) {
                case UNSTRUCTURED -> {
                    unit.elementCosts = LayerCosts.elements(c, layer);
                    unit.count = SortedCosts.of(unit.elementCosts);
                }
                case SEMI_2_4 -> {
                    INDArray costs = LayerCosts.elements(c, layer);
                    unit.blocks = TwoFourBlocks.of(c, costs);
                    costs.close();
                    unit.count = unit.blocks.removalCount();
                }
                case ROWS_COLS -> {
                    unit.rowCosts = LayerCosts.rows(c, layer);
                    unit.columnCosts = LayerCosts.columns(c, layer);
                    unit.count = new RowColumnCount(unit.rowCosts, unit.columnCosts);
                }
                case GROUPS -> throw new IllegalArgumentException("coupled groups are priced per block");
            }
        }
        return unit;
    }

    private LayerCurvature curvature() {
        return LayerCurvature.of(settings.method(), factor, layer, settings.damping());
    }

    @Override
    public long count(double tau) {
        return count.count(tau);
    }

    /** Rows, columns and weights under the threshold, earlier shots' zeros included. */
    @Override
    public UnitReport apply(double tau) {
        int rows = 0;
        int columns = 0;
        try (LayerCurvature c = curvature()) {
            switch (settings.structure()) {
                case UNSTRUCTURED -> ElementCorrection.apply(c, layer, ElementMask.atMost(elementCosts, tau),
                        settings.maxCorrelate());
                case SEMI_2_4 -> ElementCorrection.apply(c, layer, blocks.mask(tau), settings.maxCorrelate());
                case ROWS_COLS -> {
                    int[] r = atMost(rowCosts, tau);
                    int[] k = atMost(columnCosts, tau);
                    StructureCorrection.rows(c, layer, r);
                    StructureCorrection.columns(c, layer, k);
                    rows = r.length;
                    columns = k.length;
                }
                case GROUPS -> throw new IllegalStateException("coupled groups are applied per block");
            }
        }
        return UnitReport.dense(block, List.of(new UnitReport.LayerRemoval(layer.name(), rows, columns, count(tau))));
    }

    private static int[] atMost(double[] costs, double tau) {
        return IntStream.range(0, costs.length).filter(i -> costs[i] <= tau).toArray();
    }

    @Override
    public void close() {
        if (elementCosts != null) {
            elementCosts.close();
        }
    }
}
