package dev.lancet.engine.prune;

import static dev.lancet.engine.prune.TestLayer.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.engine.nn.Linear;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * K-OBD and magnitude: costs from the undamped curvature's diagonal computed by hand (magnitude: ½w², ½‖w‖² for
 * rows and columns, not the reference's unsquared norm; a set is the sum of its members), and removals that only
 * zero: every other weight keeps its exact value.
 */
class ObdBaselinesTest {

    private final TestLayer layer = TestLayer.random(3, 4, 5, true);

    @Test
    void costsAreHalfTheSquaredWeightsTimesTheUndampedDiagonal() {
        int columns = layer.columns();
        for (PruneMethod method : List.of(PruneMethod.K_OBD, PruneMethod.MAGNITUDE)) {
            boolean kfac = method == PruneMethod.K_OBD;
            double[] elements = new double[layer.rows * columns];
            double[] rows = new double[layer.rows];
            double[] cols = new double[columns];
            for (int i = 0; i < layer.rows; i++) {
                for (int j = 0; j < columns; j++) {
                    elements[i * columns + j] = 0.5 * layer.w[i][j] * layer.w[i][j]
                            * (kfac ? layer.g[i][i] * layer.a[j][j] : 1);
                    for (int k = 0; k < columns; k++) { // ½ w_iᵀ A w_i G_ii
                        rows[i] += 0.5 * layer.w[i][j] * (kfac ? layer.a[j][k] * layer.g[i][i] : j == k ? 1 : 0)
                                * layer.w[i][k];
                    }
                    for (int k = 0; k < layer.rows; k++) { // ½ w_jᵀ G w_j A_jj
                        cols[j] += 0.5 * layer.w[i][j] * (kfac ? layer.g[i][k] * layer.a[j][j] : i == k ? 1 : 0)
                                * layer.w[k][j];
                    }
                }
            }
            Linear linear = layer.linear(DataType.DOUBLE);
            try (LayerCurvature c = layer.curvature(method, Damping.STRUCTURED);
                 INDArray costs = LayerCosts.elements(c, linear)) {
                assertClose(elements, costs.reshape(-1).toDoubleVector(), 1e-12, method + " elements");
                assertClose(rows, LayerCosts.rows(c, linear), 1e-12, method + " rows");
                assertClose(cols, LayerCosts.columns(c, linear), 1e-12, method + " columns");
                assertClose(new double[] {rows[0] + rows[2], rows[3]},
                        LayerCosts.rowSets(c, linear, new int[][] {{2, 0}, {3}}), 1e-12, method + " row sets");
                assertClose(new double[] {cols[1] + cols[5]},
                        LayerCosts.columnSets(c, linear, new int[][] {{1, 5}}), 1e-12, method + " column sets");
            }
        }
    }

    @Test
    void removalsOnlyZero() {
        ElementMask mask = new ElementMask(layer.rows, layer.columns());
        mask.remove(0, 2);
        mask.remove(3, 5);
        for (PruneMethod method : List.of(PruneMethod.K_OBD, PruneMethod.MAGNITUDE)) {
            assertOnlyZeroed(method, l -> {
                try (LayerCurvature c = layer.curvature(method, Damping.ELEMENTS)) {
                    ElementCorrection.apply(c, l, mask, 2);
                }
            }, new int[] {2, 3 * layer.columns() + 5});
            assertOnlyZeroed(method, l -> {
                try (LayerCurvature c = layer.curvature(method, Damping.STRUCTURED)) {
                    StructureCorrection.rows(c, l, new int[] {1});
                    StructureCorrection.columns(c, l, new int[] {5});
                }
            }, new int[] {5, 6, 7, 8, 9, 10, 11, 17, 23});
        }
    }

    private void assertOnlyZeroed(PruneMethod method, Consumer<Linear> removal, int[] zeroed) {
        Linear linear = layer.linear(DataType.DOUBLE);
        removal.accept(linear);
        double[] want = layer.theta();
        for (int q : zeroed) {
            want[q] = 0;
        }
        double[] got = TestLayer.theta(linear);
        for (int q = 0; q < want.length; q++) {
            assertEquals(want[q], got[q], 0.0, method + " weight " + q);
        }
    }
}
